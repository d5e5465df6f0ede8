// The GroupStore contract against DynamoDB Local.
import { afterAll, beforeAll } from 'vitest';
import { DynamoGroupStore } from '../../functions/adapters/dynamodb/groups.ts';
import { describeGroupStoreContract } from '../contract/group-contract.ts';
import { type LocalDynamo, startLocalDynamo } from '../support/dynamodb.ts';

let dynamo: LocalDynamo;
beforeAll(async () => {
  dynamo = await startLocalDynamo();
});
afterAll(async () => {
  await dynamo?.stop();
});

describeGroupStoreContract(
  'DynamoDB Local',
  async () => new DynamoGroupStore(dynamo.client, dynamo.tableName),
);
