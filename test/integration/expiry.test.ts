// The expiry path against the real stand-ins: sweeper claims in DynamoDB Local, digest through
// the SES stand-in, and the race of delivery and expiry.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStore } from '../../functions/adapters/dynamodb/store.ts';
import { SesMailer } from '../../functions/adapters/ses-mailer.ts';
import { dedupeKey } from '../../functions/core/capture.ts';
import { type ExpiryJob, emailExpired, sweepDue } from '../../functions/core/expiry.ts';
import type { HeldMessage } from '../../functions/core/held-message.ts';
import { stopChild } from '../../local/processes.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startSes } from '../../local/stand-ins.ts';
import { EXPIRY_SHARDS } from '../../shared/table.ts';
import { MemoryQueue } from '../fakes/memory-store.ts';
import { type LocalDynamo, startLocalDynamo } from '../support/dynamodb.ts';
import { freePort } from '../support/ports.ts';

let dynamo: LocalDynamo;
let store: DynamoStore;
let ses: ChildProcess;
let sesPort: number;
// The test's clock is fixed for the run, near the real one: DynamoDB Local deletes items whose TTL
// (expiry + 7 days) is past by the real clock, so a clock far in the past loses messages mid-test.
const now = Math.floor(Date.now() / 60_000) * 60_000;

beforeAll(async () => {
  sesPort = await freePort();
  [dynamo, ses] = await Promise.all([
    startLocalDynamo(),
    startSes(sesPort, mkdtempSync(join(tmpdir(), 'holdover-ses-'))),
  ]);
  store = new DynamoStore(dynamo.client, dynamo.tableName, () => now);
});
afterAll(async () => {
  await dynamo?.stop();
  if (ses) await stopChild(ses);
});

const user = () => `sip:carol-${ulid().toLowerCase()}@example.com`;

async function hold(
  recipient: string,
  body: string,
  expiresAt: string,
  receivedAt = new Date(now - 60_000).toISOString(),
) {
  const message: HeldMessage = {
    id: ulid(),
    recipient,
    sender: 'sip:alice@example.com',
    senderUri: 'sip:alice@example.com',
    senderName: 'Alice',
    callId: ulid(),
    cseq: 1,
    contentType: 'text/plain;charset=UTF-8',
    body: Buffer.from(body, 'utf8'),
    receivedAt,
    expiresAt,
    state: 'pending',
  };
  await store.hold(message, { dedupeKeys: [dedupeKey('call', message.callId, '1')], quota: 1000 });
  return message;
}

function sweepDeps(queue: { enqueue: (job: ExpiryJob) => Promise<void> }) {
  return {
    store,
    queue,
    now: () => now,
    shards: EXPIRY_SHARDS,
    claimTimeoutMs: 1_800_000,
    jobSize: 200,
    intervalMs: 1000,
  };
}

interface StoredEmail {
  subject: string;
  destination: { to: string[] };
  body: { text: string; html: string };
}

async function emailsTo(address: string): Promise<StoredEmail[]> {
  const response = await fetch(`http://127.0.0.1:${sesPort}/store`);
  const { emails } = (await response.json()) as { emails: StoredEmail[] };
  return emails.filter((email) => email.destination.to.includes(address));
}

describe('sweeper and email', () => {
  it('claims only due messages, groups them per recipient, and a second sweep finds nothing new', async () => {
    const carol = user();
    const due1 = await hold(carol, 'first', new Date(now - 1000).toISOString());
    const due2 = await hold(carol, 'second', new Date(now).toISOString());
    await hold(carol, 'not yet', new Date(now + 60_000).toISOString());
    const jobs: ExpiryJob[] = [];
    const queue = { enqueue: async (job: ExpiryJob) => void jobs.push(job) };
    const first = await sweepDue(sweepDeps(queue));
    const mine = jobs.filter((job) => job.recipient === carol);
    expect(mine).toHaveLength(1);
    expect(mine[0]?.messages.map((m) => m.id).sort()).toEqual([due1.id, due2.id].sort());
    expect(first.claimed).toBeGreaterThanOrEqual(2);
    jobs.length = 0;
    await sweepDue(sweepDeps(queue));
    expect(jobs.filter((job) => job.recipient === carol)).toEqual([]);
  });

  it('emails one escaped digest through the SES stand-in, then deletes the messages', async () => {
    const carol = user();
    await hold(
      carol,
      '<script>alert(1)</script> Grüße',
      new Date(now - 2000).toISOString(),
      new Date(now - 9000).toISOString(),
    );
    await hold(
      carol,
      'zweite Nachricht 🎉',
      new Date(now - 1000).toISOString(),
      new Date(now - 8000).toISOString(),
    );
    const jobs: ExpiryJob[] = [];
    await sweepDue(sweepDeps({ enqueue: async (job) => void jobs.push(job) }));
    const job = jobs.find((candidate) => candidate.recipient === carol);
    if (!job) throw new Error('no job for carol');
    const mailer = new SesMailer(
      new SESv2Client({
        endpoint: `http://127.0.0.1:${sesPort}`,
        region: LOCAL_REGION,
        credentials: LOCAL_CREDENTIALS,
      }),
      'holdover@example.com',
    );
    const notices = new MemoryQueue();
    const result = await emailExpired(job, {
      users: store,
      store,
      mailer,
      notices,
      now: () => now,
      newId: ulid,
    });
    expect(result).toMatchObject({ outcome: 'emailed', count: 2 });
    const address = carol.replace('sip:', '');
    const [email, ...more] = await emailsTo(address);
    expect(more).toEqual([]);
    expect(email?.subject).toBe('2 messages while you were away');
    expect(email?.body.text.indexOf('<script>alert(1)</script> Grüße')).toBeLessThan(
      email?.body.text.indexOf('zweite Nachricht') ?? 0,
    );
    expect(email?.body.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; Grüße');
    expect((await store.listHeld(carol)).messages).toEqual([]);
    expect((await store.getUser(carol)).held).toBe(0);
  });

  it('keeps the messages claimed when SES fails, and sends once it works', async () => {
    const carol = user();
    await hold(carol, 'survives an outage', new Date(now - 1000).toISOString());
    const jobs: ExpiryJob[] = [];
    await sweepDue(sweepDeps({ enqueue: async (job) => void jobs.push(job) }));
    const job = jobs.find((candidate) => candidate.recipient === carol);
    if (!job) throw new Error('no job for carol');
    const failing = { send: async () => Promise.reject(new Error('Throttling')) };
    const deps = { users: store, store, notices: new MemoryQueue(), now: () => now, newId: ulid };
    await expect(emailExpired(job, { ...deps, mailer: failing })).rejects.toThrow('Throttling');
    expect((await store.listHeld(carol)).messages.map((m) => m.state)).toEqual(['expiring']);
    const sent: string[] = [];
    const working = {
      send: async (mail: { to: string }) => {
        sent.push(mail.to);
        return 'mail-1';
      },
    };
    await expect(emailExpired(job, { ...deps, mailer: working })).resolves.toMatchObject({
      outcome: 'emailed',
    });
    expect(sent).toEqual([carol.replace('sip:', '')]);
    expect((await store.listHeld(carol)).messages).toEqual([]);
  });

  it('bounces to the sender when the policy says so or there is no mailbox', async () => {
    const dave = `sip:dave-${ulid().toLowerCase()}@127.0.0.1`;
    await hold(dave, 'no mailbox for an IP domain', new Date(now - 1000).toISOString());
    const jobs: ExpiryJob[] = [];
    await sweepDue(sweepDeps({ enqueue: async (job) => void jobs.push(job) }));
    const job = jobs.find((candidate) => candidate.recipient === dave);
    if (!job) throw new Error('no job for dave');
    const notices = new MemoryQueue();
    const mailer = { send: async () => Promise.reject(new Error('must not email')) };
    await expect(
      emailExpired(job, { users: store, store, mailer, notices, now: () => now, newId: ulid }),
    ).resolves.toEqual({
      outcome: 'bounced',
      count: 1,
    });
    expect(notices.jobs).toHaveLength(1);
    expect(notices.jobs[0]?.kind === 'notice' && notices.jobs[0].message.to).toBe('sip:alice@example.com');
    // kept, bounced, until the notice's outcome settles it (docs/design.md "Message lifecycle")
    const [kept] = (await store.listHeld(dave)).messages;
    expect(kept?.state).toBe('bounced');
    expect(notices.jobs[0]?.kind === 'notice' && notices.jobs[0].settles?.id).toBe(kept?.id);
  });

  it('sweeps a vacationer’s messages at once, before they expire', async () => {
    const erin = user();
    await store.putSettings(erin, {
      vacation: { until: new Date(now + 86_400_000).toISOString(), autoReply: 'Back Monday' },
    });
    const early = await hold(erin, 'not due, but erin is away', new Date(now + 3_600_000).toISOString());
    const jobs: ExpiryJob[] = [];
    await sweepDue(sweepDeps({ enqueue: async (job) => void jobs.push(job) }));
    expect(jobs.filter((job) => job.recipient === erin)).toEqual([
      { recipient: erin, reason: 'vacation', messages: [{ id: early.id, receivedAt: early.receivedAt }] },
    ]);
  });

  it('gives exactly one outcome when delivery and expiry race for the same messages (20 runs)', async () => {
    for (let run = 0; run < 20; run++) {
      const frank = user();
      const messages = await Promise.all(
        Array.from({ length: 10 }, (_, i) => hold(frank, `race ${i}`, new Date(now - 1000).toISOString())),
      );
      await store.acquireLease(frank, 'run-1', 60_000);
      const [delivering, claimed] = await Promise.all([
        store.markDelivering(messages, 'run-1'),
        store.claimForExpiry(
          messages.map(({ recipient, id, receivedAt }) => ({ recipient, id, receivedAt, state: 'pending' })),
          now,
          now - 1_800_000,
        ),
      ]);
      expect(delivering.length + claimed.length).toBe(10);
      const ids = new Set([...delivering.map((m) => m.id), ...claimed.map((m) => m.id)]);
      expect(ids.size).toBe(10);
      const states = (await store.listHeld(frank)).messages.map((m) => m.state);
      expect(states.filter((state) => state === 'delivering')).toHaveLength(delivering.length);
      expect(states.filter((state) => state === 'expiring')).toHaveLength(claimed.length);
    }
  });

  it('leaves what a live delivery run has in flight, however old; takes it once the run’s lease lapsed', async () => {
    const gail = user();
    const stuck = await hold(gail, 'stuck in delivering', new Date(now - 3_600_000).toISOString());
    const fresh = await hold(gail, 'being delivered right now', new Date(now - 1000).toISOString());
    await store.acquireLease(gail, 'run-1', 60_000);
    await store.markDelivering([stuck, fresh], 'run-1');
    const jobs: ExpiryJob[] = [];
    await sweepDue(sweepDeps({ enqueue: async (job) => void jobs.push(job) }));
    expect(jobs.find((job) => job.recipient === gail)).toBeUndefined();
    // the run died: its lease ran out, and the next sweep takes both
    const later: ExpiryJob[] = [];
    await sweepDue({
      ...sweepDeps({ enqueue: async (job) => void later.push(job) }),
      now: () => now + 61_000,
    });
    expect(
      later
        .find((job) => job.recipient === gail)
        ?.messages.map((m) => m.id)
        .sort(),
    ).toEqual([stuck.id, fresh.id].sort());
  });
});
