// The whole system on the DynamoDB store (HOLDOVER_STORE=dynamodb: DynamoDB Local and the SQS
// stand-in, as before SQLite became the default): capture → deliver → expire end to end, so the
// adapter AWS runs is exercised by real SIP too. Every other e2e file runs on the default store.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendUdp, sipRequest } from '../support/sip-client.ts';
import { heldFor, type RunningSystem, startSystem } from '../support/system.ts';
import { TestUa, waitUntil } from '../support/ua.ts';

let system: RunningSystem;
const unique = () => randomBytes(4).toString('hex');

beforeAll(async () => {
  system = await startSystem({
    env: {
      HOLDOVER_STORE: 'dynamodb',
      HOLDOVER_EXPIRE_AFTER: '3s',
      HOLDOVER_SWEEP_INTERVAL: '1s',
      DELIVERY_TIMEOUT: '3s',
      HOLDOVER_TRUSTED_PROXIES: '127.0.0.1/32',
    },
  });
});
afterAll(async () => {
  await system?.stop();
});

async function emailsTo(address: string): Promise<Array<{ body: { text: string } }>> {
  const response = await fetch(`http://127.0.0.1:${system.sesPort}/store`).catch(() => undefined);
  if (!response?.ok) return [];
  const { emails } = (await response.json()) as {
    emails: Array<{ destination: { to: string[] }; body: { text: string } }>;
  };
  return emails.filter((email) => email.destination.to.includes(address));
}

describe('on DynamoDB Local (HOLDOVER_STORE=dynamodb)', () => {
  it('runs DynamoDB Local and the SQS stand-in, and says so', async () => {
    expect(system.output()).toContain('DynamoDB Local ready');
    expect(system.output()).toContain('SQS stand-in (fauxqs) ready');
    const health = (await (await fetch(`${system.apiUrl}/v1/health`)).json()) as {
      parts: Record<string, string>;
    };
    expect(health.parts).toMatchObject({ api: 'ok', dynamodb: 'ok', sqs: 'ok', ses: 'ok', edge: 'ok' });
  });

  it('captures, then delivers on REGISTER, byte-exact, oldest first', async () => {
    const bob = `sip:bob-${unique()}@example.com`;
    for (const body of ['first ✓', 'second 🎉'])
      expect((await sendUdp(system.sipPort, sipRequest({ to: bob, body }))).status).toBe(202);
    expect((await heldFor(system, bob)).map((message) => message.body)).toEqual(['first ✓', 'second 🎉']);
    const ua = new TestUa();
    await ua.start();
    try {
      expect((await ua.register(system.sipPort, bob)).status).toBe(200);
      await waitUntil('both delivered', () => (ua.messages().length === 2 ? true : undefined), 15_000);
      expect(ua.messages().map((message) => message.body)).toEqual(['first ✓', 'second 🎉']);
      await waitUntil('nothing held', async () =>
        (await heldFor(system, bob)).length === 0 ? true : undefined,
      );
    } finally {
      ua.close();
    }
  });

  it('emails what waited too long, and holds nothing after', async () => {
    const user = `carol-${unique()}`;
    const carol = `sip:${user}@example.com`;
    expect((await sendUdp(system.sipPort, sipRequest({ to: carol, body: 'expire me' }))).status).toBe(202);
    await waitUntil(
      'the digest',
      async () => ((await emailsTo(`${user}@example.com`)).length === 1 ? true : undefined),
      20_000,
    );
    expect((await emailsTo(`${user}@example.com`))[0]?.body.text).toContain('expire me');
    await waitUntil('nothing held', async () =>
      (await heldFor(system, carol)).length === 0 ? true : undefined,
    );
  });
});
