// In-memory fake of the store ports, with the same dedupe and quota semantics as the DynamoDB
// adapter (which has its own integration tests against DynamoDB Local).
import type { HeldMessage, HeldState } from '../../functions/core/held-message.ts';
import type {
  HeldPage,
  HeldStats,
  HoldGuard,
  HoldOutcome,
  MessageStore,
  SettingsStore,
} from '../../functions/core/ports.ts';
import type { UserSettings } from '../../functions/core/settings.ts';

export class MemoryStore implements MessageStore, SettingsStore {
  readonly messages: HeldMessage[] = [];
  readonly dedupe = new Map<string, HeldMessage>();
  readonly settings = new Map<string, UserSettings>();

  async hold(message: HeldMessage, guard: HoldGuard): Promise<HoldOutcome> {
    for (const key of guard.dedupeKeys) {
      const first = this.dedupe.get(key);
      if (first) return { outcome: 'duplicate', id: first.id, expiresAt: first.expiresAt };
    }
    const held = this.messages.filter((m) => m.recipient === message.recipient).length;
    if (held >= guard.quota) return { outcome: 'quota', held };
    this.messages.push(message);
    for (const key of guard.dedupeKeys) this.dedupe.set(key, message);
    return { outcome: 'held' };
  }

  async listHeld(recipient: string): Promise<HeldPage> {
    return { messages: this.messages.filter((m) => m.recipient === recipient) };
  }

  async stats(): Promise<HeldStats> {
    const byState: Record<HeldState, number> = { pending: 0, delivering: 0, expiring: 0, bounced: 0 };
    for (const message of this.messages) byState[message.state]++;
    return { byState, recipients: new Set(this.messages.map((m) => m.recipient)).size };
  }

  async getSettings(aor: string): Promise<UserSettings | undefined> {
    return this.settings.get(aor);
  }
}
