// The process-wide adapters, wired from configuration once (module scope, as Lambda reuses it).
import { dynamodb } from './clients.ts';
import { DynamoCredentialStore } from './dynamodb/credentials.ts';
import { DynamoNonces } from './dynamodb/nonces.ts';
import { DynamoStore } from './dynamodb/store.ts';
import { requireEnv } from './env.ts';

export const tableName = requireEnv('HOLDOVER_TABLE');
export const store = new DynamoStore(dynamodb, tableName);
export const credentialStore = new DynamoCredentialStore(dynamodb, tableName);
/** Nonces of the state-changing signed calls, shared by every instance (the replay check). */
export const nonces = new DynamoNonces(dynamodb, tableName);
