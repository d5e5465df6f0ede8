// Ports: what the core needs from the outside world. Adapters in functions/adapters implement
// them (DynamoDB, SQS, SES, the edge); unit tests use in-memory fakes. Dependencies point inward:
// adapters → core, never core → adapters.

import type { DeliveryBatch, DeliveryOutcome } from '../../shared/contract/delivery.ts';
import type { PresenceState } from '../../shared/contract/presence.ts';
import type { UserSettings } from '../../shared/contract/settings.ts';
import type { HeldState } from '../../shared/contract/views.ts';
import type { Group } from './groups.ts';
import type { BounceFacts, HeldMessage, MessageRef } from './held-message.ts';
import type { DeliveryJob } from './jobs.ts';

export type HoldOutcome =
  /**
   * `after`: the recipient's presence as stored once the message was (read after the write,
   * consistently, in the same step as the quota's count). A store that does not read it there
   * leaves it out, and the caller reads the presence again itself.
   */
  | { outcome: 'held'; after?: { presence?: PresenceSummary } }
  | { outcome: 'duplicate'; id: string; expiresAt: string }
  | { outcome: 'quota'; held: number };

/**
 * What we keep per user. Registration (reachability) and published state (busy, away…) come from
 * different requests and are kept apart, so a REGISTER refresh does not undo a published "busy".
 */
export interface Presence {
  registration?: { contact: string; expiresAt: string };
  /** State published with PUBLISH or a webhook; absent when none is in force. */
  published?: PresenceState;
  /** Optimistic lock: every write is conditional on the version it read. */
  version: number;
  updatedAt: string;
}

/** What decides a presence's state: its published state, and until when its registration runs. */
export interface PresenceSummary {
  published?: PresenceState;
  registeredUntil?: string;
}

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

export interface HoldOptions {
  /**
   * Epoch ms after which the write must not be attempted nor waited for (the edge stops waiting
   * soon after and answers 503): the adapter aborts its request then and throws.
   */
  deadline?: number;
}

export interface MessageStore {
  /**
   * Stores a message atomically with its dedupe markers, within the recipient's quota. A write
   * cut off by `options.deadline` throws; it may still have landed, in which case the same
   * MESSAGE sent again is a duplicate (its dedupe marker is there).
   */
  hold(message: HeldMessage, guard: HoldGuard, options?: HoldOptions): Promise<HoldOutcome>;
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
  /**
   * `countHeld: false`: the caller does not read `held` (it is then 0), so a store that counts
   * on read (DynamoDB: the order index) skips the count. Default true.
   */
  getUser(aor: string, options?: { countHeld?: boolean }): Promise<UserRecord>;
  /** Writes presence if its stored version is still `expectedVersion` (0: none stored); false otherwise. */
  putPresence(aor: string, presence: Presence, expectedVersion: number): Promise<boolean>;
  /**
   * Records that an automatic answer (offline notice, auto-reply) went from `recipient` to `sender`;
   * false if one was already recorded within `windowMs`, so at most one goes out per window.
   */
  claimNotice(recipient: string, sender: string, windowMs: number): Promise<boolean>;
}

/**
 * What capture reads about its recipient before it writes, in one request: the group at that AOR
 * (if it is one) and the user's settings. For a store whose `hold` reads the presence after its
 * write (`after`), which is the only presence capture then needs.
 */
export interface RecipientStore {
  readRecipient(aor: string): Promise<{ group?: Group; settings?: UserSettings }>;
}

/** `markDelivering` was refused because `owner` no longer holds the recipient's live lease. */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
}

export interface DeliveryStore {
  /**
   * The one delivery worker per recipient: true if `owner` now holds (or renewed) the lease until
   * now + `ttlMs`; false while another owner's lease has not run out.
   */
  acquireLease(recipient: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Ends `owner`'s lease (nothing if another owner holds it now). */
  releaseLease(recipient: string, owner: string): Promise<void>;
  /**
   * Messages to deliver, oldest first: pending ones, and delivering ones a crashed run left;
   * `after` continues past a message already in hand.
   */
  deliverable(recipient: string, limit: number, after?: HeldMessage): Promise<HeldMessage[]>;
  /**
   * pending|delivering → delivering under `owner`, each conditionally, in one step with a check
   * that `owner` holds the recipient's live lease (else LeaseLostError, nothing changed). So a
   * message in flight under another run is taken over only once that run's lease ran out (it
   * crashed, or stalled past its heartbeat). Returns the ones this run now owns, in order.
   */
  markDelivering(messages: HeldMessage[], owner: string): Promise<HeldMessage[]>;
  /** delivering → deleted: the recipient's UA answered 2xx. */
  removeDelivered(messages: HeldMessage[]): Promise<void>;
  /** delivering under `owner` → pending: kept for the next run (not if another run took it over). */
  releaseToPending(messages: HeldMessage[], owner: string): Promise<void>;
}

export interface DeadPage {
  messages: HeldMessage[];
  /** Opaque cursor for the next page, absent on the last one. */
  next?: string;
}

/**
 * The bounce lifecycle (docs/design.md "Message lifecycle"): a bounced message is
 * kept until its notice reached the sender, or failed for good; then it is a dead letter, kept
 * with its text until an operator purges it.
 */
export interface BounceStore {
  /**
   * `from` → bounced, each conditionally, recording why and when (the time is also its notice
   * claim: the sweeper queues the notice again if it is not settled long after). Returns the
   * messages whose change was made.
   */
  markBounced(
    bounces: Array<{ message: HeldMessage; bounce: BounceFacts }>,
    from: 'delivering' | 'expiring',
  ): Promise<HeldMessage[]>;
  /**
   * Settles a bounced message by its notice's outcome: `told` (the sender's UA answered 2xx) →
   * deleted; `failed` (refused for good, or retries exhausted) → dead, with the reason. Only a
   * message still `bounced` changes; `absent` when there was none (settled before).
   */
  settleBounce(
    ref: MessageRef,
    outcome: { told: true } | { failed: string },
  ): Promise<'removed' | 'dead' | 'absent'>;
  /** Dead letters, oldest first (by capture). */
  listDead(page?: { limit?: number; after?: string }): Promise<DeadPage>;
  /** Deletes one dead letter by id, or all of them; returns how many were deleted. */
  purgeDead(which: { id: string } | { all: true }): Promise<number>;
}

export interface DeliveryQueue {
  /** `delaySeconds`: the job becomes visible only then (at most 900). */
  enqueue(job: DeliveryJob, delaySeconds?: number): Promise<void>;
}

export interface EdgeDelivery {
  /** One outcome per message attempted, in order; the edge stops after 408/480/5xx. */
  outcomes: DeliveryOutcome[];
  /** False if the edge went away mid-batch: outcomes holds what it reported until then. */
  complete: boolean;
}

/** The SIP edge, which sends MESSAGEs one after another and reports each final response. */
/**
 * The edge sends a batch's messages one after another and reports each final status. Batches for
 * one recipient are sent in the order the edge took them, never interleaved; one taken while
 * another is being sent waits for it, and is not sent at all (no outcomes) if that one stopped
 * (408, 480, 5xx) or failed. `accepted` is called once the edge has taken the batch (its answer
 * began): only then may the next one be handed over, so a call that fails on the way cannot let
 * a later batch overtake it.
 */
export interface Edge {
  deliver(request: DeliveryBatch, events?: { accepted?: () => void }): Promise<EdgeDelivery>;
}

/** The replay check of signed calls (shared/signature.ts), one port for the edge and the functions. */
export type { NonceStore } from '../../shared/signature.ts';

// --- click-to-chat (functions/core/chat.ts) -----------------------------------------------------

/** A line's state: `held` until the person's UA took it (2xx), then `delivered`. */
export type ChatLineState = 'held' | 'delivered';

/** One line of a chat: the visitor's (from = the visitor AOR) or a member's answer. */
export interface ChatLine {
  id: string;
  /** The visitor AOR, or the AOR of the person who answered. */
  from: string;
  /** Display name: the visitor's name, or the name a member's UA sent. */
  name?: string;
  at: string;
  text: string;
  state: ChatLineState;
}

/** A chat as stored: who the visitor writes to, and what is known about the visitor. */
export interface Chat {
  id: string;
  /** The public user or group the visitor writes to. */
  to: string;
  /** The visitor's SIP AOR (sip:chat-<id>@<domain>): the From of their lines. */
  visitor: string;
  name: string;
  email?: string;
  createdAt: string;
  /** When the visitor last wrote or read: the chat ends once this is older than the idle time. */
  seenAt: string;
  /** When the chat and its lines are gone (store TTL; reads ignore them past it). */
  expiresAt: string;
}

/**
 * Chats and their lines. Lines are few (bounded per chat) and read together with their chat;
 * each write is conditional on the line (or chat) being there or not.
 */
export interface ChatStore {
  /** Stores a new chat (its id is random: a collision is an error). */
  createChat(chat: Chat): Promise<void>;
  /** The chat and its lines (in no particular order); undefined if unknown or past its time. */
  getChat(chatId: string): Promise<{ chat: Chat; lines: ChatLine[] } | undefined>;
  /** Adds a line, kept until `expiresAt`; false if a line with its id is there already. */
  addLine(chatId: string, line: ChatLine, expiresAt: string): Promise<boolean>;
  /** Sets a line's state; false if there is no such line. */
  setLineState(chatId: string, lineId: string, state: ChatLineState): Promise<boolean>;
  removeLine(chatId: string, lineId: string): Promise<void>;
  /** The visitor was seen at `seenAt` (nothing if the chat is gone). */
  touchChat(chatId: string, seenAt: string): Promise<void>;
}
// Alerts from email: the AlertStore port is declared with its use case (functions/core/alerts.ts),
// as GroupStore is with groups; named here too, with the other ports.
export type { AlertRecord, AlertStore, MemberOutcome } from './alerts.ts';
