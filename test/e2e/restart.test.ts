// A restart of `npm start` keeps what was held: the store (SQLite by default) keeps its data on disk.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sendUdp, sipRequest } from '../support/sip-client.ts';
import { heldFor, startSystem } from '../support/system.ts';

describe('restart', () => {
  it('keeps held messages across a restart', async () => {
    const recipient = `sip:restart-${randomBytes(4).toString('hex')}@example.com`;
    const first = await startSystem({ keepData: true });
    try {
      expect(
        (await sendUdp(first.sipPort, sipRequest({ to: recipient, body: 'still here? ✓' }))).status,
      ).toBe(202);
    } finally {
      await first.stop();
    }
    const second = await startSystem({ dataDir: first.dataDir });
    try {
      expect((await heldFor(second, recipient)).map((message) => message.body)).toEqual(['still here? ✓']);
      expect(second.output()).toContain('found (held messages kept)');
    } finally {
      await second.stop();
      rmSync(first.dataDir, { recursive: true, force: true });
    }
  });
});
