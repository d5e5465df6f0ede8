// The process-wide store adapters, wired from configuration once (module scope, as Lambda reuses
// it). HOLDOVER_STORE picks the adapter: `dynamodb` (the default, and what AWS runs: the
// construct sets HOLDOVER_TABLE) or `sqlite` (the embedded store of `npm start`, which always
// sets HOLDOVER_STORE itself, with the file in HOLDOVER_SQLITE_PATH). The SQLite adapter is
// imported only when chosen, so the Lambda bundles never contain it or its native module.
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { envOr, requireEnv } from '../../shared/env.ts';
import type { AlertStore } from '../core/alerts.ts';
import type { CredentialStore } from '../core/credentials.ts';
import type { ExpiryStore } from '../core/expiry.ts';
import type { GroupStore } from '../core/groups.ts';
import type {
  BounceStore,
  ChatStore,
  DeliveryStore,
  MessageStore,
  NonceStore,
  RecipientStore,
  SettingsStore,
  UserStore,
} from '../core/ports.ts';
import type { SessionStore } from '../core/session.ts';
import { dynamodb as client } from './clients.ts';
import { DynamoAlerts } from './dynamodb/alerts.ts';
import { DynamoChatStore } from './dynamodb/chats.ts';
import { DynamoCredentialStore } from './dynamodb/credentials.ts';
import { DynamoGroupStore } from './dynamodb/groups.ts';
import { DynamoNonces } from './dynamodb/nonces.ts';
import { DynamoSessionStore } from './dynamodb/sessions.ts';
import { DynamoStore } from './dynamodb/store.ts';
import { DynamoRecipients } from './dynamodb/users.ts';
import { storeKindFromEnv } from './store-kind.ts';

export type Store = MessageStore & SettingsStore & UserStore & DeliveryStore & ExpiryStore & BounceStore;

interface Stores {
  store: Store;
  credentialStore: CredentialStore;
  nonces: NonceStore;
  sessionStore: SessionStore;
  groupStore: GroupStore;
  chatStore: ChatStore;
  alertStore: AlertStore;
  /** Capture's read of its recipient (group and user) in one request, where the store has it. */
  recipientStore?: RecipientStore;
  /** Whether the store answers (GET /v1/health), and what it says. */
  health: () => Promise<{ ok: boolean; detail: Record<string, string> }>;
}

async function sqlite(): Promise<Stores> {
  const path = requireEnv('HOLDOVER_SQLITE_PATH');
  // a computed specifier: bundlers leave it alone, so no Lambda bundle carries the SQLite adapter
  const adapter: typeof import('./sqlite/index.ts') = await import(
    new URL('./sqlite/index.ts', import.meta.url).href
  );
  const stores = adapter.sqliteStores(path);
  adapter.schedulePrune(stores);
  return {
    ...stores,
    health: async () => ({ ok: stores.store.ping(), detail: { store: 'sqlite' } }),
  };
}

function dynamodb(): Stores {
  const tableName = requireEnv('HOLDOVER_TABLE');
  return {
    // DynamoDB Local (the local runtime says so) commits each request on its own: delivered
    // messages' tombstones go in one transaction per batch there (functions/adapters/dynamodb/delivery.ts).
    store: new DynamoStore(client, tableName, Date.now, {
      tombstoneWrites: envOr('HOLDOVER_DYNAMODB_LOCAL', '0') === '1' ? 'transaction' : 'batch',
    }),
    credentialStore: new DynamoCredentialStore(client, tableName),
    nonces: new DynamoNonces(client, tableName),
    sessionStore: new DynamoSessionStore(client, tableName),
    groupStore: new DynamoGroupStore(client, tableName),
    chatStore: new DynamoChatStore(client, tableName),
    alertStore: new DynamoAlerts({ client, tableName, now: Date.now }),
    recipientStore: new DynamoRecipients({ client, tableName, now: Date.now }),
    health: async () => {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
      return { ok: Table?.TableStatus === 'ACTIVE', detail: { table: Table?.TableStatus ?? 'missing' } };
    },
  };
}

/** Unset: DynamoDB, as in AWS. */
export const storeKind = storeKindFromEnv('dynamodb');
const stores = storeKind === 'sqlite' ? await sqlite() : dynamodb();

export const store: Store = stores.store;
export const credentialStore: CredentialStore = stores.credentialStore;
export const groupStore: GroupStore = stores.groupStore;
/** Click-to-chat: chats and their lines (functions/core/chat.ts). */
export const chatStore: ChatStore = stores.chatStore;
/** Alerts from email, with each member's outcome (functions/core/alerts.ts). */
export const alertStore: AlertStore = stores.alertStore;
/** Nonces of the state-changing signed calls, shared by every instance (the replay check). */
export const nonces: NonceStore = stores.nonces;
/** Failed sign-ins and revoked tokens (functions/core/session.ts). */
export const sessionStore: SessionStore = stores.sessionStore;
export const storeHealth = stores.health;
/** DynamoDB: capture reads its recipient's group and user in one request (SQLite reads are local). */
export const recipientStore: RecipientStore | undefined = stores.recipientStore;
