// Every store port on one SQLite file (the default of `npm start`), one class per entity
// composed here into the same shape as the DynamoDB adapter's single store, plus the periodic
// prune: rows past their time are treated as absent by every read and condition, and deleted here.

import type { UserSettings } from '../../../shared/contract/settings.ts';
import type { ExpiryEntry, ExpiryJob, ExpiryStore } from '../../core/expiry.ts';
import type { BounceFacts, HeldMessage, MessageRef } from '../../core/held-message.ts';
import type {
  BounceStore,
  DeadPage,
  DeliveryStore,
  HeldPage,
  HeldStats,
  HoldGuard,
  HoldOptions,
  HoldOutcome,
  MessageStore,
  Presence,
  SettingsStore,
  UserRecord,
  UserStore,
} from '../../core/ports.ts';
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

export class SqliteStore
  implements MessageStore, SettingsStore, UserStore, DeliveryStore, ExpiryStore, BounceStore
{
  private readonly messages: SqliteMessages;
  private readonly users: SqliteUsers;
  private readonly delivery: SqliteDelivery;
  private readonly expiry: SqliteExpiry;
  private readonly bounces: SqliteBounces;

  constructor(
    readonly db: SqliteDb,
    private readonly now: () => number = Date.now,
  ) {
    this.messages = new SqliteMessages(db, now);
    this.users = new SqliteUsers(db, now);
    this.delivery = new SqliteDelivery(db, now);
    this.expiry = new SqliteExpiry(db, now);
    this.bounces = new SqliteBounces(db, now);
  }

  hold(message: HeldMessage, guard: HoldGuard, options?: HoldOptions): Promise<HoldOutcome> {
    return this.messages.hold(message, guard, options);
  }
  listHeld(recipient: string, page?: { limit?: number; after?: string }): Promise<HeldPage> {
    return this.messages.listHeld(recipient, page);
  }
  stats(): Promise<HeldStats> {
    return this.messages.stats();
  }

  getSettings(aor: string): Promise<UserSettings | undefined> {
    return this.users.getSettings(aor);
  }
  putSettings(aor: string, settings: UserSettings): Promise<void> {
    return this.users.putSettings(aor, settings);
  }
  getUser(aor: string, _options?: { countHeld?: boolean }): Promise<UserRecord> {
    return this.users.getUser(aor);
  }
  putPresence(aor: string, presence: Presence, expectedVersion: number): Promise<boolean> {
    return this.users.putPresence(aor, presence, expectedVersion);
  }
  claimNotice(recipient: string, sender: string, windowMs: number): Promise<boolean> {
    return this.users.claimNotice(recipient, sender, windowMs);
  }

  acquireLease(recipient: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.delivery.acquireLease(recipient, owner, ttlMs);
  }
  releaseLease(recipient: string, owner: string): Promise<void> {
    return this.delivery.releaseLease(recipient, owner);
  }
  deliverable(recipient: string, limit: number, after?: HeldMessage): Promise<HeldMessage[]> {
    return this.delivery.deliverable(recipient, limit, after);
  }
  markDelivering(messages: HeldMessage[], owner: string): Promise<HeldMessage[]> {
    return this.delivery.markDelivering(messages, owner);
  }
  removeDelivered(messages: HeldMessage[]): Promise<void> {
    return this.delivery.removeDelivered(messages);
  }
  releaseToPending(messages: HeldMessage[], owner: string): Promise<void> {
    return this.delivery.releaseToPending(messages, owner);
  }

  due(shard: number, nowIso: string, after?: unknown): Promise<{ entries: ExpiryEntry[]; next?: unknown }> {
    return this.expiry.due(shard, nowIso, after);
  }
  earliestExpiry(shard: number): Promise<string | undefined> {
    return this.expiry.earliestExpiry(shard);
  }
  onVacation(nowIso: string): Promise<string[]> {
    return this.expiry.onVacation(nowIso);
  }
  waiting(recipient: string): Promise<ExpiryEntry[]> {
    return this.expiry.waiting(recipient);
  }
  claimForExpiry(entries: ExpiryEntry[], nowMs: number, staleBefore: number): Promise<ExpiryEntry[]> {
    return this.expiry.claimForExpiry(entries, nowMs, staleBefore);
  }
  expiring(recipient: string, messages: ExpiryJob['messages']): Promise<HeldMessage[]> {
    return this.expiry.expiring(recipient, messages);
  }
  removeExpired(messages: HeldMessage[]): Promise<void> {
    return this.expiry.removeExpired(messages);
  }

  markBounced(
    bounces: Array<{ message: HeldMessage; bounce: BounceFacts }>,
    from: 'delivering' | 'expiring',
  ): Promise<HeldMessage[]> {
    return this.bounces.markBounced(bounces, from);
  }
  settleBounce(
    ref: MessageRef,
    outcome: { told: true } | { failed: string },
  ): Promise<'removed' | 'dead' | 'absent'> {
    return this.bounces.settleBounce(ref, outcome);
  }
  listDead(page?: { limit?: number; after?: string }): Promise<DeadPage> {
    return this.bounces.listDead(page);
  }
  purgeDead(which: { id: string } | { all: true }): Promise<number> {
    return this.bounces.purgeDead(which);
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
