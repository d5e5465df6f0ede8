// One object for every held-message port, composed of one part per entity: what the functions
// get as `store` (./store.ts), on SQLite (./sqlite/index.ts) and on DynamoDB
// (./dynamodb/store.ts) alike. It only delegates; each adapter brings its parts.
import type { UserSettings } from '../../shared/contract/settings.ts';
import type { ExpiryEntry, ExpiryJob, ExpiryStore } from '../core/expiry.ts';
import type { BounceFacts, HeldMessage, MessageRef } from '../core/held-message.ts';
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
} from '../core/ports.ts';

/** The parts an adapter composes: one per entity (messages, users, delivery, expiry, bounces). */
export interface StoreParts {
  messages: MessageStore;
  users: SettingsStore & UserStore;
  delivery: DeliveryStore;
  expiry: ExpiryStore;
  bounces: BounceStore;
}

export class ComposedStore<Parts extends StoreParts = StoreParts>
  implements MessageStore, SettingsStore, UserStore, DeliveryStore, ExpiryStore, BounceStore
{
  readonly messages: Parts['messages'];
  readonly users: Parts['users'];
  readonly delivery: Parts['delivery'];
  readonly expiry: Parts['expiry'];
  readonly bounces: Parts['bounces'];

  constructor(parts: Parts) {
    this.messages = parts.messages;
    this.users = parts.users;
    this.delivery = parts.delivery;
    this.expiry = parts.expiry;
    this.bounces = parts.bounces;
  }

  // MessageStore
  hold(message: HeldMessage, guard: HoldGuard, options?: HoldOptions): Promise<HoldOutcome> {
    return this.messages.hold(message, guard, options);
  }
  listHeld(recipient: string, page?: { limit?: number; after?: string }): Promise<HeldPage> {
    return this.messages.listHeld(recipient, page);
  }
  stats(): Promise<HeldStats> {
    return this.messages.stats();
  }

  // SettingsStore, UserStore
  getSettings(aor: string): Promise<UserSettings | undefined> {
    return this.users.getSettings(aor);
  }
  putSettings(aor: string, settings: UserSettings): Promise<void> {
    return this.users.putSettings(aor, settings);
  }
  getUser(aor: string, options?: { countHeld?: boolean }): Promise<UserRecord> {
    return this.users.getUser(aor, options);
  }
  putPresence(aor: string, presence: Presence, expectedVersion: number): Promise<boolean> {
    return this.users.putPresence(aor, presence, expectedVersion);
  }
  claimNotice(recipient: string, sender: string, windowMs: number): Promise<boolean> {
    return this.users.claimNotice(recipient, sender, windowMs);
  }

  // DeliveryStore
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

  // ExpiryStore
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

  // BounceStore
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
}
