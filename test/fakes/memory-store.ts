// In-memory fakes of the core's ports, with the same semantics as the DynamoDB adapter (dedupe,
// quota, conditional state changes, lease, versioned presence), which has its own integration
// tests against DynamoDB Local.
import type { HeldMessage, HeldState } from '../../functions/core/held-message.ts';
import type { DeliveryJob } from '../../functions/core/jobs.ts';
import type {
  DeliveryQueue,
  DeliveryStore,
  HeldPage,
  HeldStats,
  HoldGuard,
  HoldOutcome,
  MessageStore,
  SettingsStore,
  UserRecord,
  UserStore,
} from '../../functions/core/ports.ts';
import type { Presence } from '../../functions/core/presence.ts';
import type { UserSettings } from '../../functions/core/settings.ts';

export class MemoryStore implements MessageStore, SettingsStore, UserStore, DeliveryStore {
  readonly messages: HeldMessage[] = [];
  readonly dedupe = new Map<string, HeldMessage>();
  readonly settings = new Map<string, UserSettings>();
  readonly presence = new Map<string, Presence>();
  readonly notices = new Map<string, number>();
  readonly leases = new Map<string, { owner: string; until: number }>();
  now: () => number = Date.now;

  async hold(message: HeldMessage, guard: HoldGuard): Promise<HoldOutcome> {
    for (const key of guard.dedupeKeys) {
      const first = this.dedupe.get(key);
      if (first) return { outcome: 'duplicate', id: first.id, expiresAt: first.expiresAt };
    }
    const held = this.heldFor(message.recipient).length;
    if (held >= guard.quota) return { outcome: 'quota', held };
    this.messages.push({ ...message });
    for (const key of guard.dedupeKeys) this.dedupe.set(key, message);
    return { outcome: 'held' };
  }

  heldFor(recipient: string): HeldMessage[] {
    return this.messages
      .filter((m) => m.recipient === recipient)
      .sort((a, b) =>
        a.receivedAt === b.receivedAt ? a.id.localeCompare(b.id) : a.receivedAt.localeCompare(b.receivedAt),
      );
  }

  async listHeld(recipient: string): Promise<HeldPage> {
    return { messages: this.heldFor(recipient) };
  }

  async stats(): Promise<HeldStats> {
    const byState: Record<HeldState, number> = { pending: 0, delivering: 0, expiring: 0, bounced: 0 };
    for (const message of this.messages) byState[message.state]++;
    return { byState, recipients: new Set(this.messages.map((m) => m.recipient)).size };
  }

  async getSettings(aor: string): Promise<UserSettings | undefined> {
    return this.settings.get(aor);
  }

  async putSettings(aor: string, settings: UserSettings): Promise<void> {
    this.settings.set(aor, settings);
  }

  async getUser(aor: string): Promise<UserRecord> {
    const settings = this.settings.get(aor);
    const presence = this.presence.get(aor);
    return {
      ...(settings ? { settings } : {}),
      ...(presence ? { presence: structuredClone(presence) } : {}),
      held: this.heldFor(aor).length,
    };
  }

  async putPresence(aor: string, presence: Presence, expectedVersion: number): Promise<boolean> {
    if ((this.presence.get(aor)?.version ?? 0) !== expectedVersion) return false;
    this.presence.set(aor, structuredClone(presence));
    return true;
  }

  async claimNotice(recipient: string, sender: string, windowMs: number): Promise<boolean> {
    const key = `${recipient}|${sender}`;
    const until = this.notices.get(key);
    if (until !== undefined && until > this.now()) return false;
    this.notices.set(key, this.now() + windowMs);
    return true;
  }

  async acquireLease(recipient: string, owner: string, ttlMs: number): Promise<boolean> {
    const lease = this.leases.get(recipient);
    if (lease && lease.owner !== owner && lease.until > this.now()) return false;
    this.leases.set(recipient, { owner, until: this.now() + ttlMs });
    return true;
  }

  async releaseLease(recipient: string, owner: string): Promise<void> {
    if (this.leases.get(recipient)?.owner === owner) this.leases.delete(recipient);
  }

  async deliverable(recipient: string, limit: number, after?: HeldMessage): Promise<HeldMessage[]> {
    const afterKey = after ? `${after.receivedAt}#${after.id}` : '';
    return this.heldFor(recipient)
      .filter((m) => m.state === 'pending' || m.state === 'delivering')
      .filter((m) => `${m.receivedAt}#${m.id}` > afterKey)
      .slice(0, limit)
      .map((m) => ({ ...m }));
  }

  private change(messages: HeldMessage[], from: HeldState[], to: HeldState | 'deleted'): HeldMessage[] {
    const changed: HeldMessage[] = [];
    for (const message of messages) {
      const index = this.messages.findIndex((m) => m.id === message.id);
      const stored = this.messages[index];
      if (stored === undefined || !from.includes(stored.state)) continue;
      if (to === 'deleted') this.messages.splice(index, 1);
      else stored.state = to;
      changed.push({ ...stored, ...(to === 'deleted' ? {} : { state: to }) });
    }
    return changed;
  }

  async markDelivering(messages: HeldMessage[]): Promise<HeldMessage[]> {
    return this.change(messages, ['pending', 'delivering'], 'delivering');
  }

  async removeDelivered(messages: HeldMessage[]): Promise<void> {
    this.change(messages, ['delivering'], 'deleted');
  }

  async releaseToPending(messages: HeldMessage[]): Promise<void> {
    this.change(messages, ['delivering'], 'pending');
  }
}

export class MemoryQueue implements DeliveryQueue {
  readonly jobs: DeliveryJob[] = [];
  async enqueue(job: DeliveryJob): Promise<void> {
    this.jobs.push(job);
  }
}
