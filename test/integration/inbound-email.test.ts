// The inbound-email function as SES invokes it (the receipt rule's Lambda action, after its S3
// action stored the raw mail): it reads `<prefix><messageId>` from the bucket (a loopback S3
// stand-in here), maps the receipt's verdicts, and dispatches through the real use case and the
// SQLite store. A FAIL verdict is refused: dropped, nothing held.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawMail } from '../support/smtp.ts';

const dir = mkdtempSync(join(tmpdir(), 'holdover-inbound-'));
const objects = new Map<string, string>();
const requested: string[] = [];
let s3: Server;
let inbound: typeof import('../../functions/inbound-email.ts');
let groups: typeof import('../../functions/adapters/store.ts');

beforeAll(async () => {
  s3 = createServer((request, response) => {
    requested.push(`${request.method} ${request.url}`);
    const body = objects.get(decodeURIComponent((request.url ?? '').split('?')[0] ?? ''));
    if (body === undefined) {
      response.writeHead(404, { 'content-type': 'application/xml' });
      response.end('<Error><Code>NoSuchKey</Code></Error>');
      return;
    }
    response.writeHead(200, { 'content-type': 'message/rfc822', 'content-length': Buffer.byteLength(body) });
    response.end(body);
  });
  await new Promise<void>((resolve) => s3.listen(0, '127.0.0.1', resolve));
  Object.assign(process.env, {
    HOLDOVER_STORE: 'sqlite',
    HOLDOVER_SQLITE_PATH: join(dir, 'holdover.db'),
    HOLDOVER_DOMAINS: 'example.com',
    HOLDOVER_INBOUND_BUCKET: 'mail-bucket',
    HOLDOVER_INBOUND_PREFIX: 'inbound/',
    AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${(s3.address() as AddressInfo).port}`,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'WARN',
  });
  inbound = await import('../../functions/inbound-email.ts');
  groups = await import('../../functions/adapters/store.ts');
  const { setGroup } = await import('../../functions/core/groups.ts');
  await setGroup(
    groups.groupStore,
    'sip:ops@example.com',
    {
      members: ['sip:ann@example.com'],
      routing: 'all',
      email: 'ops@alerts.example.com',
      alertSenders: ['@mon.example.org'],
    },
    new Set(['example.com']),
    Date.now(),
  );
});
afterAll(async () => {
  await new Promise((resolve) => s3?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

const pass = { status: 'PASS' };
function sesEvent(messageId: string, verdicts: Record<string, { status: string }> = {}) {
  return {
    Records: [
      {
        eventSource: 'aws:ses',
        eventVersion: '1.0',
        ses: {
          mail: { messageId, source: 'bounce@mon.example.org', destination: ['ops@alerts.example.com'] },
          receipt: {
            recipients: ['ops@alerts.example.com'],
            spfVerdict: pass,
            dkimVerdict: pass,
            spamVerdict: pass,
            virusVerdict: pass,
            ...verdicts,
          },
        },
      },
    ],
  };
}

describe('the inbound-email function (SES → S3 → here)', () => {
  it('reads the raw mail SES stored and dispatches it; a failing verdict is dropped', async () => {
    objects.set(
      '/mail-bucket/inbound/ses-1',
      rawMail(
        {
          From: 'nagios@mon.example.org',
          To: 'ops@alerts.example.com',
          Subject: 'Disk full',
          'Message-ID': '<s1@m>',
        },
        'db1 at 92%',
      ),
    );
    await inbound.handler(sesEvent('ses-1'));
    expect(requested).toContain('GET /mail-bucket/inbound/ses-1?x-id=GetObject');
    const held = await groups.store.listHeld('sip:ann@example.com');
    expect(held.messages.map((message) => Buffer.from(message.body).toString())).toEqual([
      'Disk full\n\ndb1 at 92%',
    ]);
    const [alert] = (await groups.alertStore.listAlerts({ group: 'sip:ops@example.com' })).alerts;
    expect(alert?.members).toMatchObject([{ member: 'sip:ann@example.com', outcome: 'held' }]);

    objects.set(
      '/mail-bucket/inbound/ses-2',
      rawMail(
        {
          From: 'nagios@mon.example.org',
          To: 'ops@alerts.example.com',
          Subject: 'Spoofed',
          'Message-ID': '<s2@m>',
        },
        'x',
      ),
    );
    await inbound.handler(sesEvent('ses-2', { dkimVerdict: { status: 'FAIL' } }));
    expect((await groups.store.listHeld('sip:ann@example.com')).messages).toHaveLength(1);
    expect((await groups.alertStore.listAlerts()).alerts).toHaveLength(1);
  });

  it('refuses an event that is not an SES receipt (no S3 key from attacker text)', async () => {
    await expect(inbound.handler(sesEvent('../../etc/passwd'))).rejects.toThrow();
    await expect(inbound.handler({ Records: [] })).rejects.toThrow();
  });
});
