// Ports: what the core needs from the outside world. Adapters in functions/adapters implement
// them (DynamoDB, SQS, SES, the edge); unit tests use in-memory fakes. Dependencies point inward:
// adapters → core, never core → adapters.
import type { HeldMessage, HeldState } from './held-message.ts';
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
}
