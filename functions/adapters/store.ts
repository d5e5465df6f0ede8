// The process-wide store, wired from configuration once.
import { dynamodb } from './clients.ts';
import { DynamoMessageStore } from './dynamo-store.ts';
import { requireEnv } from './env.ts';

export const tableName = requireEnv('HOLDOVER_TABLE');
export const messageStore = new DynamoMessageStore(dynamodb, tableName);
