// The ChatStore contract against DynamoDB Local.
import { afterAll, beforeAll } from 'vitest';
import { DynamoChatStore } from '../../functions/adapters/dynamodb/chats.ts';
import { describeChatStoreContract } from '../contract/chat-contract.ts';
import { type LocalDynamo, startLocalDynamo } from '../support/dynamodb.ts';

let dynamo: LocalDynamo;
beforeAll(async () => {
  dynamo = await startLocalDynamo();
});
afterAll(async () => {
  await dynamo?.stop();
});

describeChatStoreContract(
  'DynamoDB Local',
  async (now) => new DynamoChatStore(dynamo.client, dynamo.tableName, now),
);
