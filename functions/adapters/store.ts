// The process-wide adapters, wired from configuration once (module scope, as Lambda reuses it).
import { dynamodb } from './clients.ts';
import { DynamoCredentialStore } from './dynamo-credentials.ts';
import { DynamoGroupStore } from './dynamo-groups.ts';
import { DynamoNonces } from './dynamo-nonces.ts';
import { DynamoSessionStore } from './dynamo-sessions.ts';
import { DynamoStore } from './dynamo-store.ts';
import { requireEnv } from './env.ts';

export const tableName = requireEnv('HOLDOVER_TABLE');
export const store = new DynamoStore(dynamodb, tableName);
export const groupStore = new DynamoGroupStore(dynamodb, tableName);
export const credentialStore = new DynamoCredentialStore(dynamodb, tableName);
/** Nonces of the state-changing signed calls, shared by every instance (the replay check). */
export const nonces = new DynamoNonces(dynamodb, tableName);
/** Failed sign-ins and revoked tokens (functions/core/session.ts). */
export const sessionStore = new DynamoSessionStore(dynamodb, tableName);
