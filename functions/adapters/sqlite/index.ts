// Every store port on one SQLite file (the default of `npm start`), one class per entity
// composed here into the same shape as the DynamoDB adapter's single store, plus the periodic
// prune: rows past their time are treated as absent by every read and condition, and deleted here.

import { ComposedStore } from '../composed-store.ts';
import { SqliteAlerts } from './alerts.ts';
import { SqliteBounces } from './bounces.ts';
import { SqliteChats } from './chats.ts';
import { SqliteCredentials } from './credentials.ts';
import { openDatabase, type SqliteDb, writeTransaction } from './db.ts';
import { SqliteDelivery } from './delivery.ts';
import { SqliteExpiry } from './expiry.ts';
import { SqliteGroups } from './groups.ts';
import { SqliteMessages } from './messages.ts';
import { SqliteNonces } from './nonces.ts';
import { SqliteSessions } from './sessions.ts';
import { SqliteUsers } from './users.ts';

/** A lease is kept an hour past its end (as its DynamoDB TTL), then pruned. */
const LEASE_GRACE_MS = 3_600_000;

export class SqliteStore extends ComposedStore {
  constructor(
    readonly db: SqliteDb,
    private readonly now: () => number = Date.now,
  ) {
    super({
      messages: new SqliteMessages(db, now),
      users: new SqliteUsers(db, now),
      delivery: new SqliteDelivery(db, now),
      expiry: new SqliteExpiry(db, now),
      bounces: new SqliteBounces(db, now),
    });
  }

  /** Deletes every row past its time (what DynamoDB's TTL does lazily); returns how many. */
  prune(nowMs = this.now()): number {
    return writeTransaction(this.db, () => {
      let pruned = 0;
      pruned += this.db.prepare('DELETE FROM messages WHERE gc_at < ?').run(nowMs).changes;
      pruned += this.db.prepare('DELETE FROM dedupe WHERE gc_at < ?').run(nowMs).changes;
      pruned += this.db.prepare('DELETE FROM notices WHERE until < ?').run(nowMs).changes;
      pruned += this.db.prepare('DELETE FROM leases WHERE until < ?').run(nowMs - LEASE_GRACE_MS).changes;
      pruned += this.db.prepare('DELETE FROM nonces WHERE until < ?').run(nowMs).changes;
      pruned += this.db.prepare('DELETE FROM sign_ins WHERE keep_until < ?').run(nowMs).changes;
      pruned += this.db.prepare('DELETE FROM revoked WHERE until < ?').run(nowMs).changes;
      return pruned;
    });
  }

  /** Health: the file answers a read. */
  ping(): boolean {
    return this.db.prepare('SELECT 1').pluck().get() === 1;
  }
}

export interface SqliteStores {
  store: SqliteStore;
  credentialStore: SqliteCredentials;
  nonces: SqliteNonces;
  sessionStore: SqliteSessions;
  groupStore: SqliteGroups;
  chatStore: SqliteChats;
  alertStore: SqliteAlerts;
}

/** Every port on the file at `path`, opened (and migrated) once per process. */
export function sqliteStores(path: string, now: () => number = Date.now): SqliteStores {
  const db = openDatabase(path);
  return {
    store: new SqliteStore(db, now),
    credentialStore: new SqliteCredentials(db),
    nonces: new SqliteNonces(db, now),
    sessionStore: new SqliteSessions(db),
    groupStore: new SqliteGroups(db, now),
    chatStore: new SqliteChats(db, now),
    alertStore: new SqliteAlerts(db, now),
  };
}

/** Prunes now and then every `intervalMs`, without keeping the process alive. */
export function schedulePrune(stores: SqliteStores, intervalMs = 10 * 60_000): NodeJS.Timeout {
  const prune = () => {
    stores.store.prune();
    stores.groupStore.prune();
    stores.chatStore.prune();
    stores.alertStore.prune();
  };
  prune();
  const timer = setInterval(prune, intervalMs);
  timer.unref();
  return timer;
}

export {
  SqliteAlerts,
  SqliteBounces,
  SqliteChats,
  SqliteCredentials,
  SqliteDelivery,
  SqliteExpiry,
  SqliteGroups,
  SqliteMessages,
  SqliteNonces,
  SqliteSessions,
  SqliteUsers,
};
