// The AlertStore contract against DynamoDB Local.
import { afterAll, beforeAll } from 'vitest';
import { DynamoAlerts } from '../../functions/adapters/dynamodb/alerts.ts';
import { describeAlertStoreContract } from '../contract/alert-contract.ts';
import { type LocalDynamo, startLocalDynamo } from '../support/dynamodb.ts';

let dynamo: LocalDynamo;
beforeAll(async () => {
  dynamo = await startLocalDynamo();
});
afterAll(async () => {
  await dynamo?.stop();
});

describeAlertStoreContract(
  'DynamoDB Local',
  async (now) => new DynamoAlerts({ client: dynamo.client, tableName: dynamo.tableName, now }),
);
