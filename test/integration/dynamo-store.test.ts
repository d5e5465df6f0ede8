// The DynamoDB adapter against DynamoDB Local: the store contract (test/contract/store-contract.ts;
// a second document client stands for another worker), and what is DynamoDB's own: the table's
// provisioning, a stored item that no longer validates, the network write cut off at its deadline.
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoCredentialStore } from '../../functions/adapters/dynamo-credentials.ts';
import { DynamoNonces } from '../../functions/adapters/dynamo-nonces.ts';
import { DynamoSessionStore } from '../../functions/adapters/dynamo-sessions.ts';
import { DynamoStore } from '../../functions/adapters/dynamo-store.ts';
import { EXPIRY_SHARDS } from '../../functions/adapters/table.ts';
import { dedupeKey } from '../../functions/core/capture.ts';
import type { HeldMessage } from '../../functions/core/held-message.ts';
import { provisionTable } from '../../local/stand-ins.ts';
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

function heldMessage(recipient: string): HeldMessage {
  const now = Date.now();
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
});
