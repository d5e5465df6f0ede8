import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoStore } from '../../functions/adapters/dynamo-store.ts';
import { dedupeKey } from '../../functions/core/capture.ts';
import type { HeldMessage } from '../../functions/core/held-message.ts';
import { provisionTable } from '../../local/stand-ins.ts';
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

  it('claims an automatic notice once per window', async () => {
    const aor = uniqueUser();
    await expect(store.claimNotice(aor, 'sip:alice@example.com', 60_000)).resolves.toBe(true);
    await expect(store.claimNotice(aor, 'sip:alice@example.com', 60_000)).resolves.toBe(false);
    await expect(store.claimNotice(aor, 'sip:carol@example.com', 60_000)).resolves.toBe(true);
  });
});
