import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStore } from '../../functions/adapters/dynamodb/store.ts';
import { dedupeKey } from '../../functions/core/capture.ts';
import { type DeliveryDeps, deliverBacklog } from '../../functions/core/delivery.ts';
import type { HeldMessage } from '../../functions/core/held-message.ts';
import { type Edge, LeaseLostError } from '../../functions/core/ports.ts';
import { provisionTable } from '../../local/stand-ins.ts';
import { MemoryQueue } from '../fakes/memory-store.ts';
import { type LocalDynamo, startLocalDynamo } from '../support/dynamodb.ts';

let dynamo: LocalDynamo;
let store: DynamoStore;

beforeAll(async () => {
  dynamo = await startLocalDynamo();
  store = new DynamoStore(dynamo.client, dynamo.tableName);
});
afterAll(async () => {
  await dynamo?.stop();
});

let counter = 0;
function heldMessage(recipient: string, overrides: Partial<HeldMessage> = {}): HeldMessage {
  const now = Date.now() + counter++;
  return {
    id: ulid(now),
    recipient,
    sender: 'sip:alice@example.com',
    senderUri: 'sip:alice@example.com;transport=tcp',
    senderName: 'Alice',
    callId: `call-${ulid()}`,
    cseq: 1,
    contentType: 'text/plain; charset=utf-8',
    body: Buffer.from('Grüße 🎉 <b>&</b>', 'utf8'),
    receivedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 3_600_000).toISOString(),
    state: 'pending',
    ...overrides,
  };
}

const uniqueUser = () => `sip:user-${ulid().toLowerCase()}@example.com`;
const guard = (message: HeldMessage, quota = 1000) => ({
  dedupeKeys: [dedupeKey('call', message.callId, String(message.cseq))],
  quota,
});

describe('DynamoStore against DynamoDB Local', () => {
  it('provisions the table idempotently', async () => {
    await expect(provisionTable(dynamo.port, dynamo.tableName)).resolves.toBe('exists');
  });

  it('holds messages and lists them oldest first with bodies byte-exact', async () => {
    const recipient = uniqueUser();
    const messages = [1, 2, 3].map((n) =>
      heldMessage(recipient, { body: Buffer.from(`#${n} ünï 🎉`, 'utf8') }),
    );
    for (const message of [...messages].reverse()) {
      // stored newest first: the listing must still come back oldest first
      await expect(store.hold(message, guard(message))).resolves.toEqual({ outcome: 'held' });
    }
    const page = await store.listHeld(recipient);
    expect(page.messages.map((m) => m.id)).toEqual(messages.map((m) => m.id));
    expect(page.messages.map((m) => Buffer.from(m.body).toString('utf8'))).toEqual([
      '#1 ünï 🎉',
      '#2 ünï 🎉',
      '#3 ünï 🎉',
    ]);
    expect(page.messages[0]).toMatchObject({ senderName: 'Alice', state: 'pending', cseq: 1 });
  });

  it('stores a duplicate once and returns the first id', async () => {
    const recipient = uniqueUser();
    const first = heldMessage(recipient);
    const again = { ...heldMessage(recipient), callId: first.callId };
    await store.hold(first, guard(first));
    await expect(store.hold(again, guard(again))).resolves.toEqual({
      outcome: 'duplicate',
      id: first.id,
      expiresAt: first.expiresAt,
    });
    expect((await store.listHeld(recipient)).messages).toHaveLength(1);
  });

  it('takes an IMDN Message-ID as a second dedupe key, and withdraws its marker past the quota', async () => {
    const recipient = uniqueUser();
    const imdn = dedupeKey('imdn', 'sip:alice@example.com', `imdn-${ulid()}`);
    const first = heldMessage(recipient);
    await expect(
      store.hold(first, { ...guard(first), dedupeKeys: [...guard(first).dedupeKeys, imdn] }),
    ).resolves.toEqual({ outcome: 'held' });
    // another Call-ID, the same IMDN Message-ID: the same message, sent again by the client
    const resent = heldMessage(recipient);
    await expect(
      store.hold(resent, { ...guard(resent), dedupeKeys: [...guard(resent).dedupeKeys, imdn] }),
    ).resolves.toEqual({ outcome: 'duplicate', id: first.id, expiresAt: first.expiresAt });
    const full = uniqueUser();
    const only = heldMessage(full);
    await store.hold(only, guard(only, 1));
    const refusedImdn = dedupeKey('imdn', 'sip:alice@example.com', `imdn-${ulid()}`);
    const refused = heldMessage(full);
    const refusedGuard = { dedupeKeys: [...guard(refused).dedupeKeys, refusedImdn], quota: 1 };
    await expect(store.hold(refused, refusedGuard)).resolves.toEqual({ outcome: 'quota', held: 1 });
    await expect(store.hold(refused, { ...refusedGuard, quota: 2 })).resolves.toEqual({ outcome: 'held' });
  });

  it('answers a late duplicate of a delivered message with its first answer (its tombstone)', async () => {
    const recipient = uniqueUser();
    const message = heldMessage(recipient);
    await store.hold(message, guard(message));
    await store.acquireLease(recipient, 'run', 60_000);
    await store.removeDelivered(await store.markDelivering([message], 'run'));
    await store.releaseLease(recipient, 'run');
    expect((await store.listHeld(recipient)).messages).toEqual([]);
    expect((await store.getUser(recipient)).held).toBe(0);
    const late = { ...heldMessage(recipient), callId: message.callId };
    await expect(store.hold(late, guard(late))).resolves.toEqual({
      outcome: 'duplicate',
      id: message.id,
      expiresAt: message.expiresAt,
    });
    expect((await store.listHeld(recipient)).messages).toEqual([]);
  });

  it('lets exactly one of many concurrent duplicates through', async () => {
    const recipient = uniqueUser();
    const callId = `race-${ulid()}`;
    const attempts = Array.from({ length: 8 }, () => ({ ...heldMessage(recipient), callId }));
    const outcomes = await Promise.all(attempts.map((message) => store.hold(message, guard(message))));
    expect(outcomes.filter((o) => o.outcome === 'held')).toHaveLength(1);
    expect(outcomes.filter((o) => o.outcome === 'duplicate')).toHaveLength(7);
    expect((await store.listHeld(recipient)).messages).toHaveLength(1);
  });

  it('refuses past the quota with the held count, and leaves no dedupe marker behind', async () => {
    const recipient = uniqueUser();
    for (let i = 0; i < 3; i++) {
      const message = heldMessage(recipient);
      await store.hold(message, guard(message, 3));
    }
    const refused = heldMessage(recipient);
    await expect(store.hold(refused, guard(refused, 3))).resolves.toEqual({ outcome: 'quota', held: 3 });
    // the refused message's Call-ID was not marked: with room again it would be held
    await expect(store.hold(refused, guard(refused, 4))).resolves.toEqual({ outcome: 'held' });
  });

  it('pages through a recipient with a cursor', async () => {
    const recipient = uniqueUser();
    for (let i = 0; i < 5; i++) {
      const message = heldMessage(recipient);
      await store.hold(message, guard(message));
    }
    const first = await store.listHeld(recipient, { limit: 3 });
    expect(first.messages).toHaveLength(3);
    expect(first.next).toBeDefined();
    const second = await store.listHeld(recipient, {
      limit: 3,
      ...(first.next ? { after: first.next } : {}),
    });
    expect(second.messages).toHaveLength(2);
    expect(new Set([...first.messages, ...second.messages].map((m) => m.id)).size).toBe(5);
  });

  it('reads settings, ignoring a stored value that no longer validates', async () => {
    const aor = uniqueUser();
    await expect(store.getSettings(aor)).resolves.toBeUndefined();
    await dynamo.client.send(
      new PutCommand({
        TableName: dynamo.tableName,
        Item: { pk: `USER#${aor}`, sk: '#SETTINGS', settings: { expireAfter: '30m' } },
      }),
    );
    await expect(store.getSettings(aor)).resolves.toEqual({ expireAfter: '30m' });
    await dynamo.client.send(
      new PutCommand({
        TableName: dynamo.tableName,
        Item: { pk: `USER#${aor}`, sk: '#SETTINGS', settings: { expireAfter: 'soon' } },
      }),
    );
    await expect(store.getSettings(aor)).resolves.toBeUndefined();
  });

  it('counts held messages by state', async () => {
    const stats = await store.stats();
    expect(stats.byState.pending).toBeGreaterThanOrEqual(10);
    expect(stats.recipients).toBeGreaterThanOrEqual(4);
    expect(stats.oldestReceivedAt).toMatch(/^\d{4}-/);
  });

  it('reads a user in one query: counter, settings, presence', async () => {
    const aor = uniqueUser();
    const message = heldMessage(aor);
    await store.hold(message, guard(message));
    await store.putSettings(aor, { hold: ['offline'] });
    const presence = { published: 'busy' as const, version: 1, updatedAt: new Date().toISOString() };
    await expect(store.putPresence(aor, presence, 0)).resolves.toBe(true);
    await expect(store.getUser(aor)).resolves.toEqual({ held: 1, settings: { hold: ['offline'] }, presence });
  });

  it('writes presence only from the version it read', async () => {
    const aor = uniqueUser();
    const first = { version: 1, updatedAt: 'a' };
    await expect(store.putPresence(aor, first, 0)).resolves.toBe(true);
    await expect(store.putPresence(aor, { version: 1, updatedAt: 'b' }, 0)).resolves.toBe(false);
    await expect(store.putPresence(aor, { version: 2, updatedAt: 'c' }, 1)).resolves.toBe(true);
    await expect(store.putPresence(aor, { version: 3, updatedAt: 'd' }, 1)).resolves.toBe(false);
  });

  it('grants the delivery lease to one owner until it is released or lapses', async () => {
    const aor = uniqueUser();
    await expect(store.acquireLease(aor, 'a', 60_000)).resolves.toBe(true);
    await expect(store.acquireLease(aor, 'b', 60_000)).resolves.toBe(false);
    await expect(store.acquireLease(aor, 'a', 60_000)).resolves.toBe(true);
    await store.releaseLease(aor, 'b'); // not the owner: no effect
    await expect(store.acquireLease(aor, 'b', 60_000)).resolves.toBe(false);
    await store.releaseLease(aor, 'a');
    await expect(store.acquireLease(aor, 'b', 1)).resolves.toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await expect(store.acquireLease(aor, 'c', 60_000)).resolves.toBe(true);
  });

  it('moves messages pending → delivering → deleted conditionally, in batches, and counts down', async () => {
    const aor = uniqueUser();
    const messages = Array.from({ length: 30 }, () => heldMessage(aor));
    for (const message of messages) await store.hold(message, guard(message));
    const deliverable = await store.deliverable(aor, 30);
    expect(deliverable.map((m) => m.id)).toEqual(messages.map((m) => m.id));
    await expect(store.acquireLease(aor, 'run-1', 60_000)).resolves.toBe(true);
    const owned = await store.markDelivering(deliverable, 'run-1');
    expect(owned).toHaveLength(30);
    expect(owned.every((m) => m.state === 'delivering')).toBe(true);
    await store.releaseToPending(owned.slice(20), 'run-1');
    await store.removeDelivered(owned); // only the 20 still delivering go
    const left = await store.listHeld(aor);
    expect(left.messages.map((m) => [m.id, m.state])).toEqual(
      messages.slice(20).map((m) => [m.id, 'pending']),
    );
    expect((await store.getUser(aor)).held).toBe(10);
  });

  it('writes the same tombstones in transactions (DynamoDB Local mode) as in batches', async () => {
    const local = new DynamoStore(dynamo.client, dynamo.tableName, Date.now, {
      tombstoneWrites: 'transaction',
    });
    const aor = uniqueUser();
    const messages = Array.from({ length: 12 }, () => heldMessage(aor));
    for (const message of messages) await local.hold(message, guard(message));
    await local.acquireLease(aor, 'run-t', 60_000);
    const owned = await local.markDelivering(await local.deliverable(aor, 12), 'run-t');
    await local.releaseToPending(owned.slice(10), 'run-t');
    await local.removeDelivered(owned);
    expect((await local.listHeld(aor)).messages.map((m) => m.id)).toEqual(
      messages.slice(10).map((m) => m.id),
    );
    const late = { ...heldMessage(aor), callId: messages[0]?.callId ?? '' };
    await expect(local.hold(late, guard(late))).resolves.toMatchObject({
      outcome: 'duplicate',
      id: messages[0]?.id,
    });
  });

  it('claims an automatic notice once per window', async () => {
    const aor = uniqueUser();
    await expect(store.claimNotice(aor, 'sip:alice@example.com', 60_000)).resolves.toBe(true);
    await expect(store.claimNotice(aor, 'sip:alice@example.com', 60_000)).resolves.toBe(false);
    await expect(store.claimNotice(aor, 'sip:carol@example.com', 60_000)).resolves.toBe(true);
  });
});

describe('DynamoStore: in-flight ownership, bounces and dead letters', () => {
  it('marks delivering only under the live lease; a crashed run’s messages are taken over once it lapsed', async () => {
    const aor = uniqueUser();
    const messages = [heldMessage(aor), heldMessage(aor)];
    for (const message of messages) await store.hold(message, guard(message));
    await expect(store.markDelivering(messages, 'run-a')).rejects.toThrow(LeaseLostError); // no lease
    await store.acquireLease(aor, 'run-a', 60_000);
    await expect(store.markDelivering(messages, 'run-a')).resolves.toHaveLength(2);
    // run-a dies holding them; run-b cannot take them while run-a's lease lives…
    await expect(store.acquireLease(aor, 'run-b', 60_000)).resolves.toBe(false);
    await expect(store.markDelivering(messages, 'run-b')).rejects.toThrow(LeaseLostError);
    // …nor hand them back as pending
    await store.releaseToPending(messages, 'run-b');
    expect((await store.listHeld(aor)).messages.map((m) => [m.state, m.owner])).toEqual([
      ['delivering', 'run-a'],
      ['delivering', 'run-a'],
    ]);
    // two minutes later the lease has run out: run-b takes over
    const later = new DynamoStore(dynamo.client, dynamo.tableName, () => Date.now() + 120_000);
    await expect(later.acquireLease(aor, 'run-b', 60_000)).resolves.toBe(true);
    const taken = await later.markDelivering(await later.deliverable(aor, 10), 'run-b');
    expect(taken.map((m) => [m.id, m.owner])).toEqual(messages.map((m) => [m.id, 'run-b']));
    await later.releaseToPending(taken, 'run-b');
    expect((await store.listHeld(aor)).messages.map((m) => [m.state, m.owner])).toEqual([
      ['pending', undefined],
      ['pending', undefined],
    ]);
  });

  it('keeps a bounced message until its notice settles it: told → deleted, failed → dead letter', async () => {
    const aor = uniqueUser();
    const told = heldMessage(aor, { replyTo: 'sip:127.0.0.1:5070' });
    const failed = heldMessage(aor);
    for (const message of [told, failed]) await store.hold(message, guard(message));
    await store.acquireLease(aor, 'run', 60_000);
    await store.markDelivering([told, failed], 'run');
    const bounce = { status: 404, reason: 'Not Found', at: Date.now() };
    const bounced = await store.markBounced(
      [told, failed].map((message) => ({ message, bounce })),
      'delivering',
    );
    expect(bounced.map((m) => m.state)).toEqual(['bounced', 'bounced']);
    // not twice, and not from another state
    await expect(store.markBounced([{ message: told, bounce }], 'delivering')).resolves.toEqual([]);
    expect((await store.listHeld(aor)).messages.map((m) => [m.state, m.bounce])).toEqual([
      ['bounced', bounce],
      ['bounced', bounce],
    ]);
    expect((await store.getUser(aor)).held).toBe(2); // still held until settled

    await expect(store.settleBounce(told, { told: true })).resolves.toBe('removed');
    await expect(store.settleBounce(told, { told: true })).resolves.toBe('absent');
    await expect(store.settleBounce(failed, { failed: 'the notice failed 4 times (408)' })).resolves.toBe(
      'dead',
    );
    await expect(store.settleBounce(failed, { told: true })).resolves.toBe('absent'); // dead stays dead
    expect((await store.getUser(aor)).held).toBe(0);

    const dead = (await store.listDead({ limit: 1000 })).messages.find((m) => m.id === failed.id);
    expect(dead).toMatchObject({
      state: 'dead',
      sender: 'sip:alice@example.com',
      recipient: aor,
      bounce,
      dead: { reason: 'the notice failed 4 times (408)' },
    });
    expect(Buffer.from(dead?.body ?? []).toString('utf8')).toBe('Grüße 🎉 <b>&</b>');
    // a dead letter is out of the expiry index (no sweep takes it) and kept past its TTL
    const entries = [];
    for (let shard = 0; shard < 8; shard++)
      entries.push(...(await store.due(shard, '9999-01-01T00:00:00.000Z')).entries);
    expect(entries.find((entry) => entry.id === failed.id)).toBeUndefined();
    await expect(store.purgeDead({ id: failed.id })).resolves.toBe(1);
    await expect(store.purgeDead({ id: failed.id })).resolves.toBe(0);
    expect((await store.listHeld(aor)).messages).toEqual([]);
  });

  it('bounces on expiry from expiring; re-claims a bounce whose notice never settled it', async () => {
    const aor = uniqueUser();
    const message = heldMessage(aor);
    await store.hold(message, guard(message));
    const entry = { recipient: aor, id: message.id, receivedAt: message.receivedAt, state: 'pending' };
    const nowMs = Date.now();
    await expect(store.claimForExpiry([entry], nowMs, nowMs - 1_800_000)).resolves.toHaveLength(1);
    const bounce = { status: 0, reason: 'expired', at: nowMs };
    await expect(store.markBounced([{ message, bounce }], 'expiring')).resolves.toHaveLength(1);
    const bouncedEntry = { ...entry, state: 'bounced', claimedAt: nowMs };
    // a fresh bounce is not taken again…
    await expect(store.claimForExpiry([bouncedEntry], nowMs + 1000, nowMs - 1_800_000)).resolves.toEqual([]);
    // …one left unsettled for longer than the claim timeout is, and stays bounced
    const later = nowMs + 3_600_000;
    await expect(store.claimForExpiry([bouncedEntry], later, later - 1_800_000)).resolves.toHaveLength(1);
    const [again] = await store.expiring(aor, [message]);
    expect(again).toMatchObject({ id: message.id, state: 'bounced', bounce });
  });

  it('cuts the capture write off at its deadline', async () => {
    const aor = uniqueUser();
    const late = heldMessage(aor);
    await expect(store.hold(late, guard(late), { deadline: Date.now() + 1 })).rejects.toThrow();
    const inTime = heldMessage(aor);
    await expect(store.hold(inTime, guard(inTime), { deadline: Date.now() + 5000 })).resolves.toEqual({
      outcome: 'held',
    });
  });
});

describe('a delivery batch slower than the lease (300 s batch, 120 s lease, scaled down)', () => {
  it('keeps one worker: the lease is renewed while the batch is in flight, nothing is sent twice', async () => {
    const aor = uniqueUser();
    const messages = Array.from({ length: 6 }, () => heldMessage(aor));
    for (const message of messages) await store.hold(message, guard(message));
    await store.putPresence(
      aor,
      {
        registration: {
          contact: 'sip:ua@127.0.0.1:5072',
          expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        },
        version: 1,
        updatedAt: new Date().toISOString(),
      },
      0,
    );
    const sent: string[] = [];
    // each batch takes 2.5 s against a lease of 1 s (as 300 s against 120 s)
    const slowEdge: Edge = {
      async deliver(request) {
        sent.push(...request.messages.map((m) => m.id));
        await new Promise((resolve) => setTimeout(resolve, 2500));
        return {
          outcomes: request.messages.map((m) => ({ id: m.id, status: 200, reason: 'OK' })),
          complete: true,
        };
      },
    };
    let ids = 0;
    const deps = (worker: string): DeliveryDeps => ({
      users: store,
      store,
      queue: new MemoryQueue(),
      edge: slowEdge,
      now: Date.now,
      newId: () => `${worker}-${++ids}`,
      viaProxy: false,
      batchSize: 3,
      leaseMs: 1000,
    });
    const first = deliverBacklog(aor, deps('first'));
    const second: string[] = [];
    for (let attempt = 0; attempt < 12; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 400));
      second.push((await deliverBacklog(aor, deps('second'))).outcome);
    }
    await expect(first).resolves.toMatchObject({ outcome: 'done', delivered: 6 });
    expect(sent).toEqual(messages.map((m) => m.id)); // each once, oldest first
    expect(second.every((outcome) => outcome === 'busy' || outcome === 'done')).toBe(true);
    expect((await store.listHeld(aor)).messages).toEqual([]);
  }, 30_000);
});
