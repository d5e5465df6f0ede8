// The process-wide adapters, wired from configuration once (module scope, as Lambda reuses it).
import { dynamodb } from './clients.ts';
import { DynamoCredentialStore } from './dynamodb/credentials.ts';
import { DynamoNonces } from './dynamodb/nonces.ts';
import { DynamoStore } from './dynamodb/store.ts';
import { envOr, requireEnv } from './env.ts';

export const tableName = requireEnv('HOLDOVER_TABLE');
// DynamoDB Local (the local runtime says so) commits each request on its own: delivered
// messages' tombstones go in one transaction per batch there (functions/adapters/dynamodb/delivery.ts).
export const store = new DynamoStore(dynamodb, tableName, Date.now, {
  tombstoneWrites: envOr('HOLDOVER_DYNAMODB_LOCAL', '0') === '1' ? 'transaction' : 'batch',
});
export const credentialStore = new DynamoCredentialStore(dynamodb, tableName);
/** Nonces of the state-changing signed calls, shared by every instance (the replay check). */
export const nonces = new DynamoNonces(dynamodb, tableName);
