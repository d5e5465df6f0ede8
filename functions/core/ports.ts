// Ports: what the core needs from the outside world. Adapters in functions/adapters implement
// them (DynamoDB, SQS, SES, the edge); unit tests use in-memory fakes. Dependencies point inward:
// adapters → core, never core → adapters.
import type { HeldMessage, HeldState } from './held-message.ts';
import type { DeliveryJob, OutgoingMessage } from './jobs.ts';
import type { Presence } from './presence.ts';
import type { UserSettings } from './settings.ts';

export type HoldOutcome =
  | { outcome: 'held' }
  | { outcome: 'duplicate'; id: string; expiresAt: string }
  | { outcome: 'quota'; held: number };

export interface HoldGuard {
  /** Keys that identify the same message arriving again (Call-ID+CSeq, IMDN Message-ID). */
  dedupeKeys: string[];
  /** Most messages a recipient may have held. */
  quota: number;
}

export interface HeldPage {
  messages: HeldMessage[];
  /** Opaque cursor for the next page, absent on the last one. */
  next?: string;
}

export interface HeldStats {
  byState: Record<HeldState, number>;
  recipients: number;
  oldestReceivedAt?: string;
}

export interface MessageStore {
  /** Stores a message atomically with its dedupe markers, within the recipient's quota. */
  hold(message: HeldMessage, guard: HoldGuard): Promise<HoldOutcome>;
  /** A recipient's held messages, oldest first. */
  listHeld(recipient: string, page?: { limit?: number; after?: string }): Promise<HeldPage>;
  stats(): Promise<HeldStats>;
}

export interface SettingsStore {
  getSettings(aor: string): Promise<UserSettings | undefined>;
  putSettings(aor: string, settings: UserSettings): Promise<void>;
}

/** Everything we keep about one user apart from their messages, read in one go. */
export interface UserRecord {
  settings?: UserSettings;
  presence?: Presence;
  /** Messages held for the user (pending, being delivered or being emailed). */
  held: number;
}

export interface UserStore {
  getUser(aor: string): Promise<UserRecord>;
  /** Writes presence if its stored version is still `expectedVersion` (0: none stored); false otherwise. */
  putPresence(aor: string, presence: Presence, expectedVersion: number): Promise<boolean>;
  /**
   * Records that an automatic answer (offline notice, auto-reply) went from `recipient` to `sender`;
   * false if one was already recorded within `windowMs`, so at most one goes out per window.
   */
  claimNotice(recipient: string, sender: string, windowMs: number): Promise<boolean>;
}

export interface DeliveryStore {
  /** The one delivery worker per recipient: true if `owner` now holds (or renewed) the lease. */
  acquireLease(recipient: string, owner: string, ttlMs: number): Promise<boolean>;
  releaseLease(recipient: string, owner: string): Promise<void>;
  /**
   * Messages to deliver, oldest first: pending ones, and delivering ones a crashed run left;
   * `after` continues past a message already in hand.
   */
  deliverable(recipient: string, limit: number, after?: HeldMessage): Promise<HeldMessage[]>;
  /** pending|delivering → delivering, each conditionally; returns the ones this run now owns, in order. */
  markDelivering(messages: HeldMessage[]): Promise<HeldMessage[]>;
  /** delivering → deleted (the recipient's UA answered 2xx, or the sender was told of a bounce). */
  removeDelivered(messages: HeldMessage[]): Promise<void>;
  /** delivering → pending: kept for the next run. */
  releaseToPending(messages: HeldMessage[]): Promise<void>;
}

export interface DeliveryQueue {
  /** `delaySeconds`: the job becomes visible only then (at most 900). */
  enqueue(job: DeliveryJob, delaySeconds?: number): Promise<void>;
}

export interface EdgeOutcome {
  id: string;
  status: number;
  reason: string;
}

export interface EdgeDelivery {
  /** One outcome per message attempted, in order; the edge stops after 408/480/5xx. */
  outcomes: EdgeOutcome[];
  /** False if the edge went away mid-batch: outcomes holds what it reported until then. */
  complete: boolean;
}

/** The SIP edge, which sends MESSAGEs one after another and reports each final response. */
export interface Edge {
  deliver(request: {
    recipient: string;
    target?: string;
    messages: OutgoingMessage[];
  }): Promise<EdgeDelivery>;
}

/**
 * Signed calls are taken once (DESIGN.md "Security"): the nonce of each state-changing call is
 * claimed until its signature's window ends. Shared by every instance that verifies (the table in
 * AWS); the edge, one process, keeps it in memory.
 */
export interface NonceStore {
  /** Records `nonce` as used until `untilMs`; false if it is already recorded and not yet expired. */
  claim(nonce: string, untilMs: number): Promise<boolean>;
}
