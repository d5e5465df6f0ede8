// The DynamoDB adapter against DynamoDB Local: the store contract (test/contract/store-contract.ts;
// a second document client stands for another worker), and what is DynamoDB's own: the table's
// provisioning, a stored item that no longer validates, the network write cut off at its deadline,
// the delivered messages' tombstones written in transactions (DynamoDB Local's mode); and that a
// capture sends only the DynamoDB actions infra/catalogue.ts grants the functions that capture.
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoCredentialStore } from '../../functions/adapters/dynamodb/credentials.ts';
import { DynamoGroupStore } from '../../functions/adapters/dynamodb/groups.ts';
import { DynamoNonces } from '../../functions/adapters/dynamodb/nonces.ts';
import { DynamoSessionStore } from '../../functions/adapters/dynamodb/sessions.ts';
import { DynamoStore } from '../../functions/adapters/dynamodb/store.ts';
import { DynamoRecipients } from '../../functions/adapters/dynamodb/users.ts';
import { captureMessage, dedupeKey } from '../../functions/core/capture.ts';
import type { HeldMessage } from '../../functions/core/held-message.ts';
import { HOLDOVER_FUNCTIONS } from '../../infra/catalogue.ts';
import { provisionTable } from '../../local/stand-ins.ts';
import { QuotaExceededError } from '../../shared/errors.ts';
import { EXPIRY_SHARDS } from '../../shared/table.ts';
import { describeStoreContract } from '../contract/store-contract.ts';
import { type LocalDynamo, startLocalDynamo } from '../support/dynamodb.ts';

let dynamo: LocalDynamo;

beforeAll(async () => {
  dynamo = await startLocalDynamo();
});
afterAll(async () => {
  await dynamo?.stop();
});

describeStoreContract('DynamoDB Local', async (now) => {
  const other = await startLocalDynamoClient();
  return {
    store: new DynamoStore(dynamo.client, dynamo.tableName, now),
    other: new DynamoStore(other, dynamo.tableName, now),
    credentials: new DynamoCredentialStore(dynamo.client, dynamo.tableName),
    nonces: new DynamoNonces(dynamo.client, dynamo.tableName, now),
    sessions: new DynamoSessionStore(dynamo.client, dynamo.tableName),
    shards: EXPIRY_SHARDS,
    close: async () => other.destroy(),
  };
});

/** Another document client on the same DynamoDB Local (another worker's connection). */
async function startLocalDynamoClient() {
  const { DynamoDBDocumentClient } = await import('@aws-sdk/lib-dynamodb');
  const { dynamoClient } = await import('../../local/stand-ins.ts');
  return DynamoDBDocumentClient.from(dynamoClient(dynamo.port), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

const uniqueUser = () => `sip:user-${ulid().toLowerCase()}@example.com`;

let lastArrival = 0;
/** A message arriving strictly after the previous one (the order index sorts by arrival). */
function heldMessage(recipient: string): HeldMessage {
  const now = Math.max(Date.now(), lastArrival + 1);
  lastArrival = now;
  return {
    id: ulid(now),
    recipient,
    sender: 'sip:alice@example.com',
    senderUri: 'sip:alice@example.com',
    callId: `call-${ulid()}`,
    cseq: 1,
    contentType: 'text/plain',
    body: Buffer.from('hello'),
    receivedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 3_600_000).toISOString(),
    state: 'pending',
  };
}

describe('DynamoStore: DynamoDB’s own', () => {
  it('provisions the table idempotently', async () => {
    await expect(provisionTable(dynamo.port, dynamo.tableName)).resolves.toBe('exists');
  });

  it('reads settings, ignoring a stored value that no longer validates', async () => {
    const store = new DynamoStore(dynamo.client, dynamo.tableName);
    const aor = uniqueUser();
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

  it('cuts the capture write off at its deadline, mid-request', async () => {
    const store = new DynamoStore(dynamo.client, dynamo.tableName);
    const aor = uniqueUser();
    const late = heldMessage(aor);
    const guard = { dedupeKeys: [dedupeKey('call', late.callId, '1')], quota: 1000 };
    await expect(store.hold(late, guard, { deadline: Date.now() + 1 })).rejects.toThrow();
  });

  it('writes the same tombstones in transactions (DynamoDB Local mode) as in batches', async () => {
    const local = new DynamoStore(dynamo.client, dynamo.tableName, Date.now, {
      tombstoneWrites: 'transaction',
    });
    const aor = uniqueUser();
    const guard = (message: HeldMessage) => ({
      dedupeKeys: [dedupeKey('call', message.callId, String(message.cseq))],
      quota: 1000,
    });
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
});

describe('DynamoStore: the grants of the functions that hold a message', () => {
  /** The IAM actions a DynamoDB call needs: a transaction is authorised as its parts. */
  function actionsOf(command: string, input: Record<string, unknown>): string[] {
    const name = command.replace(/Command$/, '');
    if (name !== 'TransactWriteItems') return [name];
    const parts = (input.TransactItems ?? []) as Record<string, unknown>[];
    const part: Record<string, string> = {
      Put: 'PutItem',
      Update: 'UpdateItem',
      Delete: 'DeleteItem',
      ConditionCheck: 'ConditionCheckItem',
    };
    return parts.flatMap((item) => Object.keys(item).map((key) => part[key] ?? key));
  }

  it('sends only commands that capture, captureBatch, chatPostLine and inboundEmail are granted', async () => {
    const client = await startLocalDynamoClient();
    const sent = new Set<string>();
    client.middlewareStack.add(
      (next, context) => async (args) => {
        for (const action of actionsOf(context.commandName ?? '', args.input as Record<string, unknown>))
          sent.add(action);
        return next(args);
      },
      { step: 'initialize', name: 'recordActions' },
    );
    try {
      const store = new DynamoStore(client, dynamo.tableName);
      const aor = uniqueUser();
      const guard = (message: HeldMessage, imdn?: string) => ({
        dedupeKeys: [
          dedupeKey('call', message.callId, String(message.cseq)),
          ...(imdn ? [dedupeKey('imdn', message.sender, imdn)] : []),
        ],
        quota: 1,
      });
      const first = heldMessage(aor);
      await expect(store.hold(first, guard(first))).resolves.toMatchObject({ outcome: 'held' });
      await expect(store.hold(first, guard(first))).resolves.toMatchObject({ outcome: 'duplicate' });
      // past the quota (counted after the write): the message and its IMDN marker are taken back
      const second = heldMessage(aor);
      await expect(store.hold(second, guard(second, 'imdn-1'))).resolves.toMatchObject({
        outcome: 'quota',
      });
      const third = heldMessage(aor);
      await expect(store.hold(third, guard(third))).resolves.toMatchObject({ outcome: 'quota' });
      expect((await store.listHeld(aor)).messages.map((m) => m.id)).toEqual([first.id]);
      expect([...sent]).toContain('DeleteItem');

      // the use case over the same store: the recipient's record, the hold, the offline notice's
      // claim; then a capture past the quota (the same takeback, through the core)
      const user = uniqueUser();
      await new DynamoStore(dynamo.client, dynamo.tableName).putSettings(user, { offlineNotice: 'away' });
      const deps = {
        store,
        users: store,
        groups: new DynamoGroupStore(client, dynamo.tableName),
        recipients: new DynamoRecipients({ client, tableName: dynamo.tableName, now: Date.now }),
        queue: { enqueue: async () => {} },
        policy: {
          domains: new Set(['example.com']),
          defaultExpireAfterMs: 3_600_000,
          maxBodyBytes: 1000,
          quota: 1,
        },
        now: Date.now,
        newId: (nowMs: number) => ulid(nowMs),
      };
      const capture = (callId: string) =>
        captureMessage(
          {
            callId,
            cseq: 1,
            from: 'sip:alice@example.com',
            to: user,
            contentType: 'text/plain',
            body: Buffer.from('hello'),
          },
          deps,
        );
      await expect(capture(`call-${ulid()}`)).resolves.toMatchObject({ status: 'held' });
      await expect(capture(`call-${ulid()}`)).rejects.toBeInstanceOf(QuotaExceededError);
      expect([...sent]).toContain('BatchGetItem');

      for (const name of ['capture', 'captureBatch', 'chatPostLine', 'inboundEmail']) {
        const access = HOLDOVER_FUNCTIONS.find((entry) => entry.name === name)?.access;
        const granted = new Set<string>([...(access?.table ?? []), ...(access?.orderIndex ?? [])]);
        expect(
          [...sent].filter((action) => !granted.has(action)),
          name,
        ).toEqual([]);
      }
    } finally {
      client.destroy();
    }
  });
});

describe("DynamoRecipients: capture's one read of its recipient", () => {
  it('reads the group at an AOR and the user’s settings, as getGroup and getUser do', async () => {
    const store = new DynamoStore(dynamo.client, dynamo.tableName);
    const groups = new DynamoGroupStore(dynamo.client, dynamo.tableName);
    const recipients = new DynamoRecipients({
      client: dynamo.client,
      tableName: dynamo.tableName,
      now: Date.now,
    });
    const user = uniqueUser();
    await expect(recipients.readRecipient(user)).resolves.toEqual({});
    await store.putSettings(user, { hold: ['offline', 'away'], offlineNotice: 'back soon' });
    await expect(recipients.readRecipient(user)).resolves.toEqual({
      settings: (await store.getUser(user)).settings,
    });
    expect((await recipients.readRecipient(user)).settings?.offlineNotice).toBe('back soon');

    const group = uniqueUser();
    await groups.putGroup({
      aor: group,
      members: [user],
      routing: 'all',
      public: false,
      alertSenders: [],
      onExpire: 'drop',
      updatedAt: new Date().toISOString(),
    });
    const read = await recipients.readRecipient(group);
    expect(read.group).toEqual(await groups.getGroup(group));
    expect(read.group?.members).toEqual([user]);
  });
});
