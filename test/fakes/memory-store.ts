// In-memory fakes of the core's ports, with the same semantics as the SQLite and DynamoDB adapters
// (dedupe, quota, conditional state changes, lease and in-flight ownership, versioned presence,
// expiry claims, bounces and dead letters, TTL): all three pass one contract suite
// (test/contract/store-contract.ts).
import {
  ALERT_RETENTION_MS,
  type AlertPage,
  type AlertRecord,
  type AlertStore,
  alertCursor,
  type MemberOutcome,
  mergeOutcomes,
  parseAlertCursor,
} from '../../functions/core/alerts.ts';
import type { CredentialStore, UserListPage } from '../../functions/core/credentials.ts';
import type { ExpiryEntry, ExpiryStore } from '../../functions/core/expiry.ts';
import type { Group, GroupStore, QueueState } from '../../functions/core/groups.ts';
import type { BounceFacts, HeldMessage, MessageRef } from '../../functions/core/held-message.ts';
import type { DeliveryJob } from '../../functions/core/jobs.ts';
import type { Presence } from '../../functions/core/ports.ts';
import {
  type BounceStore,
  type Chat,
  type ChatLine,
  type ChatStore,
  type DeadPage,
  type DeliveryQueue,
  type DeliveryStore,
  type HeldPage,
  type HeldStats,
  type HoldGuard,
  type HoldOptions,
  type HoldOutcome,
  LeaseLostError,
  type MessageStore,
  type SettingsStore,
  type UserRecord,
  type UserStore,
} from '../../functions/core/ports.ts';
import type { SessionStore, SignInRecord } from '../../functions/core/session.ts';
import type { UserSettings } from '../../shared/contract/settings.ts';
import type { Credentials, Routing } from '../../shared/contract/views.ts';
import { HELD_STATES, type HeldState } from '../../shared/contract/views.ts';

/** Held messages are garbage-collected this long after they expire (as the adapters' TTL). */
const GC_GRACE_MS = 7 * 86_400_000;

export class MemoryStore
  implements MessageStore, SettingsStore, UserStore, DeliveryStore, ExpiryStore, BounceStore
{
  readonly messages: HeldMessage[] = [];
  readonly dedupe = new Map<string, HeldMessage>();
  readonly settings = new Map<string, UserSettings>();
  readonly presence = new Map<string, Presence>();
  readonly notices = new Map<string, number>();
  readonly leases = new Map<string, { owner: string; until: number }>();
  /** Claim (or bounce) time of a message, by id: the sweeper's staleness check. */
  readonly claimedAt = new Map<string, number>();
  now: () => number = Date.now;

  async hold(message: HeldMessage, guard: HoldGuard, options: HoldOptions = {}): Promise<HoldOutcome> {
    if (options.deadline !== undefined && this.now() >= options.deadline) {
      throw new Error('the capture deadline passed before the store was written');
    }
    for (const key of guard.dedupeKeys) {
      const first = this.dedupe.get(key);
      if (first && this.live(first))
        return { outcome: 'duplicate', id: first.id, expiresAt: first.expiresAt };
    }
    const held = this.heldFor(message.recipient).length;
    if (held >= guard.quota) return { outcome: 'quota', held };
    this.messages.push({ ...message });
    for (const key of guard.dedupeKeys) this.dedupe.set(key, message);
    return { outcome: 'held' };
  }

  /** A recipient's messages that count as held (everything but dead letters), oldest first. */
  heldFor(recipient: string): HeldMessage[] {
    return this.allFor(recipient).filter((m) => m.state !== 'dead');
  }

  /** A message past its time (expiry + the GC grace) is absent, as the real stores treat it; dead letters are kept. */
  private live(message: HeldMessage): boolean {
    return message.state === 'dead' || !(Date.parse(message.expiresAt) + GC_GRACE_MS < this.now());
  }

  private allFor(recipient: string): HeldMessage[] {
    return this.messages.filter((m) => m.recipient === recipient && this.live(m)).sort(byArrival);
  }

  async listHeld(recipient: string, page: { limit?: number; after?: string } = {}): Promise<HeldPage> {
    const limit = page.limit ?? 100;
    const rest = this.allFor(recipient).filter(
      (m) => page.after === undefined || `${m.receivedAt}#${m.id}` > page.after,
    );
    const messages = rest.slice(0, limit).map((m) => ({ ...m }));
    const last = messages.at(-1);
    return rest.length > limit && last ? { messages, next: `${last.receivedAt}#${last.id}` } : { messages };
  }

  async stats(): Promise<HeldStats> {
    const byState = Object.fromEntries(HELD_STATES.map((state) => [state, 0])) as Record<HeldState, number>;
    const live = this.messages.filter((m) => this.live(m));
    for (const message of live) byState[message.state]++;
    const oldest = live.map((m) => m.receivedAt).sort()[0];
    return {
      byState,
      recipients: new Set(live.map((m) => m.recipient)).size,
      ...(oldest !== undefined ? { oldestReceivedAt: oldest } : {}),
    };
  }

  async getSettings(aor: string): Promise<UserSettings | undefined> {
    return this.settings.get(aor);
  }

  async putSettings(aor: string, settings: UserSettings): Promise<void> {
    this.settings.set(aor, settings);
  }

  async getUser(aor: string, _options?: { countHeld?: boolean }): Promise<UserRecord> {
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

  /** Whether `owner` holds the recipient's lease at `nowMs` (a run in flight that is alive). */
  private leaseLive(recipient: string, owner: string | undefined, nowMs: number): boolean {
    const lease = this.leases.get(recipient);
    return lease !== undefined && lease.owner === owner && lease.until >= nowMs;
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

  private stored(ref: { id: string }): HeldMessage | undefined {
    return this.messages.find((m) => m.id === ref.id);
  }

  private change(
    messages: Array<{ id: string }>,
    accepts: (stored: HeldMessage) => boolean,
    apply: (stored: HeldMessage) => void,
  ): HeldMessage[] {
    const changed: HeldMessage[] = [];
    for (const message of messages) {
      const stored = this.stored(message);
      if (stored === undefined || !accepts(stored)) continue;
      apply(stored);
      changed.push({ ...stored });
    }
    return changed;
  }

  private delete(messages: Array<{ id: string }>, state: HeldState): HeldMessage[] {
    const removed: HeldMessage[] = [];
    for (const message of messages) {
      const index = this.messages.findIndex((m) => m.id === message.id);
      const stored = this.messages[index];
      if (stored === undefined || stored.state !== state) continue;
      this.messages.splice(index, 1);
      removed.push(stored);
    }
    return removed;
  }

  async markDelivering(messages: HeldMessage[], owner: string): Promise<HeldMessage[]> {
    const recipient = messages[0]?.recipient;
    const lease = recipient === undefined ? undefined : this.leases.get(recipient);
    if (recipient !== undefined && !(lease?.owner === owner && lease.until > this.now())) {
      throw new LeaseLostError(`the delivery lease is no longer held by ${owner}`);
    }
    return this.change(
      messages,
      (stored) => stored.state === 'pending' || stored.state === 'delivering',
      (stored) => {
        stored.state = 'delivering';
        stored.owner = owner;
      },
    );
  }

  async removeDelivered(messages: HeldMessage[]): Promise<void> {
    this.delete(messages, 'delivering');
  }

  async releaseToPending(messages: HeldMessage[], owner: string): Promise<void> {
    this.change(
      messages,
      (stored) => stored.state === 'delivering' && stored.owner === owner,
      (stored) => {
        stored.state = 'pending';
        delete stored.owner;
      },
    );
  }

  // --- ExpiryStore (one shard: shard 0 holds every entry) ---

  private entryOf(message: HeldMessage): ExpiryEntry {
    const claimedAt = this.claimedAt.get(message.id);
    return {
      recipient: message.recipient,
      id: message.id,
      receivedAt: message.receivedAt,
      expiresAt: message.expiresAt,
      state: message.state,
      ...(claimedAt !== undefined ? { claimedAt } : {}),
    };
  }

  async due(shard: number, nowIso: string): Promise<{ entries: ExpiryEntry[] }> {
    if (shard !== 0) return { entries: [] };
    return {
      entries: this.messages
        .filter((m) => m.state !== 'dead' && this.live(m) && `${m.expiresAt}#${m.id}` < `${nowIso}$`)
        .map((m) => this.entryOf(m)),
    };
  }

  async earliestExpiry(shard: number): Promise<string | undefined> {
    if (shard !== 0) return undefined;
    return this.messages
      .filter((m) => m.state !== 'dead' && this.live(m))
      .map((m) => m.expiresAt)
      .sort()[0];
  }

  async onVacation(nowIso: string): Promise<string[]> {
    return [...this.settings]
      .filter(([, settings]) => settings.vacation !== undefined && settings.vacation.until > nowIso)
      .map(([aor]) => aor);
  }

  async waiting(recipient: string): Promise<ExpiryEntry[]> {
    return this.heldFor(recipient)
      .filter((m) => m.state === 'pending' || m.state === 'expiring')
      .map((m) => this.entryOf(m));
  }

  async claimForExpiry(entries: ExpiryEntry[], nowMs: number, staleBefore: number): Promise<ExpiryEntry[]> {
    const claimed: ExpiryEntry[] = [];
    for (const entry of entries) {
      const stored = this.stored(entry);
      if (stored === undefined) continue;
      const claimedAt = this.claimedAt.get(stored.id) ?? 0;
      if (stored.state === 'bounced') {
        if (entry.state !== 'bounced' || !(claimedAt < staleBefore)) continue;
      } else if (
        !(
          stored.state === 'pending' ||
          (stored.state === 'expiring' && claimedAt < staleBefore) ||
          (stored.state === 'delivering' && !this.leaseLive(stored.recipient, stored.owner, nowMs))
        ) ||
        entry.state === 'bounced'
      ) {
        continue;
      } else {
        stored.state = 'expiring';
        delete stored.owner;
      }
      this.claimedAt.set(stored.id, nowMs);
      claimed.push(entry);
    }
    return claimed;
  }

  async expiring(recipient: string, refs: Array<{ id: string; receivedAt: string }>): Promise<HeldMessage[]> {
    const ids = new Set(refs.map((ref) => ref.id));
    return this.heldFor(recipient)
      .filter((m) => ids.has(m.id) && (m.state === 'expiring' || m.state === 'bounced'))
      .map((m) => ({ ...m }));
  }

  async removeExpired(messages: HeldMessage[]): Promise<void> {
    this.delete(messages, 'expiring');
  }

  // --- BounceStore ---

  async markBounced(
    bounces: Array<{ message: HeldMessage; bounce: BounceFacts }>,
    from: 'delivering' | 'expiring',
  ): Promise<HeldMessage[]> {
    const changed: HeldMessage[] = [];
    for (const { message, bounce } of bounces) {
      changed.push(
        ...this.change(
          [message],
          (stored) => stored.state === from,
          (stored) => {
            stored.state = 'bounced';
            stored.bounce = bounce;
            delete stored.owner;
            this.claimedAt.set(stored.id, bounce.at);
          },
        ),
      );
    }
    return changed;
  }

  async settleBounce(
    ref: MessageRef,
    outcome: { told: true } | { failed: string },
  ): Promise<'removed' | 'dead' | 'absent'> {
    if ('told' in outcome) return this.delete([ref], 'bounced').length > 0 ? 'removed' : 'absent';
    const changed = this.change(
      [ref],
      (stored) => stored.state === 'bounced',
      (stored) => {
        stored.state = 'dead';
        stored.dead = { reason: outcome.failed, at: this.now() };
      },
    );
    return changed.length > 0 ? 'dead' : 'absent';
  }

  async listDead(page: { limit?: number; after?: string } = {}): Promise<DeadPage> {
    const limit = page.limit ?? 100;
    const rest = this.messages
      .filter((m) => m.state === 'dead' && (page.after === undefined || m.id > page.after))
      .sort((a, b) => a.id.localeCompare(b.id));
    const messages = rest.slice(0, limit).map((m) => ({ ...m }));
    const last = messages.at(-1);
    return rest.length > limit && last ? { messages, next: last.id } : { messages };
  }

  async purgeDead(which: { id: string } | { all: true }): Promise<number> {
    const doomed = this.messages.filter((m) => m.state === 'dead' && ('all' in which || m.id === which.id));
    return this.delete(doomed, 'dead').length;
  }
}

function byArrival(a: HeldMessage, b: HeldMessage): number {
  return a.receivedAt === b.receivedAt ? a.id.localeCompare(b.id) : a.receivedAt.localeCompare(b.receivedAt);
}

export class MemoryQueue implements DeliveryQueue {
  readonly jobs: DeliveryJob[] = [];
  readonly delays: Array<number | undefined> = [];
  async enqueue(job: DeliveryJob, delaySeconds?: number): Promise<void> {
    this.jobs.push(job);
    this.delays.push(delaySeconds);
  }
}

/** The GroupStore port in memory, with the same semantics as functions/adapters/dynamodb/groups.ts. */
export class MemoryGroupStore implements GroupStore {
  readonly groups = new Map<string, Group>();
  readonly idle = new Map<string, Record<string, number>>();
  readonly sticky = new Map<string, { member: string; atMs: number }>();

  async getGroup(aor: string): Promise<Group | undefined> {
    const group = this.groups.get(aor);
    return group ? structuredClone(group) : undefined;
  }

  async putGroup(group: Group): Promise<void> {
    this.groups.set(group.aor, structuredClone(group));
  }

  async removeGroup(aor: string): Promise<boolean> {
    return this.groups.delete(aor);
  }

  async listGroups(
    page: { limit?: number; after?: string } = {},
  ): Promise<{ groups: Group[]; next?: string }> {
    const limit = page.limit ?? 100;
    const sorted = [...this.groups.values()]
      .filter((group) => page.after === undefined || group.aor > page.after)
      .sort((a, b) => (a.aor < b.aor ? -1 : 1));
    const groups = sorted.slice(0, limit).map((group) => structuredClone(group));
    const last = groups.at(-1);
    return sorted.length > limit && last ? { groups, next: last.aor } : { groups };
  }

  async groupsOf(member: string): Promise<Array<{ group: string; routing: Routing }>> {
    return [...this.groups.values()]
      .filter((group) => group.members.includes(member))
      .map((group) => ({ group: group.aor, routing: group.routing }));
  }

  async queueState(group: string, sender: string): Promise<QueueState> {
    const sticky = this.sticky.get(`${group}\n${sender}`);
    return { lastAssigned: { ...(this.idle.get(group) ?? {}) }, ...(sticky ? { sticky } : {}) };
  }

  async recordAssignment(group: string, member: string, sender: string, atMs: number): Promise<void> {
    this.idle.set(group, { ...(this.idle.get(group) ?? {}), [member]: atMs });
    this.sticky.set(`${group}\n${sender}`, { member, atMs });
  }
}

export class MemoryCredentials implements CredentialStore {
  readonly entries = new Map<string, Credentials>();

  async getCredentials(aor: string): Promise<Credentials | undefined> {
    const entry = this.entries.get(aor);
    return entry ? structuredClone(entry) : undefined;
  }

  async putCredentials(
    entry: Omit<Credentials, 'createdAt' | 'updatedAt'>,
    nowIso: string,
  ): Promise<Credentials> {
    const stored = {
      ...structuredClone(entry),
      createdAt: this.entries.get(entry.aor)?.createdAt ?? nowIso,
      updatedAt: nowIso,
    };
    this.entries.set(entry.aor, stored);
    return structuredClone(stored);
  }

  async deleteCredentials(aor: string): Promise<boolean> {
    return this.entries.delete(aor);
  }

  async listUsers(page: { limit?: number; after?: string } = {}): Promise<UserListPage> {
    const limit = page.limit ?? 100;
    const sorted = [...this.entries.values()]
      .filter((entry) => page.after === undefined || entry.aor > page.after)
      .sort((a, b) => (a.aor < b.aor ? -1 : 1));
    const users = sorted
      .slice(0, limit)
      .map(({ aor, admin, createdAt, updatedAt }) => ({ aor, admin, createdAt, updatedAt }));
    const last = users.at(-1);
    return sorted.length > limit && last ? { users, next: last.aor } : { users };
  }
}

export class MemorySessions implements SessionStore {
  readonly records = new Map<string, SignInRecord & { untilMs: number }>();
  readonly revoked = new Map<string, number>();

  private current(aor: string, nowMs: number): SignInRecord | undefined {
    const entry = this.records.get(aor);
    return entry && entry.untilMs >= nowMs
      ? { count: entry.count, nextAllowedMs: entry.nextAllowedMs }
      : undefined;
  }

  async signInRecord(aor: string, nowMs: number): Promise<SignInRecord | undefined> {
    return this.current(aor, nowMs);
  }

  async claimAttempt(
    aor: string,
    seen: SignInRecord | undefined,
    next: SignInRecord,
    keepUntilMs: number,
    nowMs: number,
  ): Promise<boolean> {
    // compared and written in one step, as the stores' conditional write is
    if (JSON.stringify(this.current(aor, nowMs)) !== JSON.stringify(seen)) return false;
    this.records.set(aor, { ...next, untilMs: keepUntilMs });
    return true;
  }

  async clearFailures(aor: string): Promise<void> {
    this.records.delete(aor);
  }

  async revoke(jti: string, untilMs: number): Promise<void> {
    this.revoked.set(jti, untilMs);
  }

  async isRevoked(jti: string, nowMs: number): Promise<boolean> {
    return (this.revoked.get(jti) ?? -1) >= nowMs;
  }
}

/** The ChatStore port in memory, with the same semantics as the SQLite and DynamoDB adapters. */
export class MemoryChatStore implements ChatStore {
  readonly chats = new Map<string, { chat: Chat; lines: Map<string, ChatLine> }>();

  constructor(private readonly now: () => number = Date.now) {}

  private live(chatId: string) {
    const found = this.chats.get(chatId);
    return found && Date.parse(found.chat.expiresAt) > this.now() ? found : undefined;
  }

  async createChat(chat: Chat): Promise<void> {
    if (this.chats.has(chat.id)) throw new Error(`chat ${chat.id} exists`);
    this.chats.set(chat.id, { chat: structuredClone(chat), lines: new Map() });
  }

  async getChat(chatId: string): Promise<{ chat: Chat; lines: ChatLine[] } | undefined> {
    const found = this.live(chatId);
    if (!found) return undefined;
    return { chat: structuredClone(found.chat), lines: [...found.lines.values()].map((l) => ({ ...l })) };
  }

  async addLine(chatId: string, line: ChatLine, _expiresAt: string): Promise<boolean> {
    const found = this.live(chatId);
    if (!found || found.lines.has(line.id)) return false;
    found.lines.set(line.id, { ...line });
    return true;
  }

  async setLineState(chatId: string, lineId: string, state: ChatLine['state']): Promise<boolean> {
    const line = this.live(chatId)?.lines.get(lineId);
    if (!line) return false;
    line.state = state;
    return true;
  }

  async removeLine(chatId: string, lineId: string): Promise<void> {
    this.chats.get(chatId)?.lines.delete(lineId);
  }

  async touchChat(chatId: string, seenAt: string): Promise<void> {
    const found = this.live(chatId);
    if (found && found.chat.seenAt < seenAt) found.chat.seenAt = seenAt;
  }
}

/** The AlertStore port in memory, with the semantics of the SQLite and DynamoDB adapters (TTL too). */
export class MemoryAlerts implements AlertStore {
  readonly alerts = new Map<string, AlertRecord>();
  constructor(private readonly now: () => number = Date.now) {}

  private live(id: string): AlertRecord | undefined {
    const alert = this.alerts.get(id);
    if (alert && Date.parse(alert.receivedAt) + ALERT_RETENTION_MS < this.now()) return undefined;
    return alert;
  }

  async openAlert(alert: AlertRecord): Promise<{ opened: true } | { opened: false; existing: AlertRecord }> {
    const existing = this.live(alert.id);
    if (existing) return { opened: false, existing: structuredClone(existing) };
    this.alerts.set(alert.id, structuredClone(alert));
    return { opened: true };
  }

  async recordOutcomes(alertId: string, outcomes: MemberOutcome[]): Promise<void> {
    const alert = this.live(alertId);
    if (alert) alert.members = mergeOutcomes(alert.members, outcomes);
  }

  async markDispatched(alertId: string): Promise<void> {
    const alert = this.live(alertId);
    if (alert) alert.dispatched = true;
  }

  async getAlert(id: string): Promise<AlertRecord | undefined> {
    const alert = this.live(id);
    return alert ? structuredClone(alert) : undefined;
  }

  async listAlerts(page: { group?: string; limit?: number; after?: string } = {}): Promise<AlertPage> {
    const limit = page.limit ?? 100;
    const after = page.after ? parseAlertCursor(page.after) : undefined;
    const sorted = [...this.alerts.keys()]
      .map((id) => this.live(id))
      .filter((alert): alert is AlertRecord => alert !== undefined)
      .filter((alert) => page.group === undefined || alert.group === page.group)
      .sort((a, b) => (`${b.receivedAt}|${b.id}` < `${a.receivedAt}|${a.id}` ? -1 : 1))
      .filter(
        (alert) =>
          after === undefined || `${alert.receivedAt}|${alert.id}` < `${after.receivedAt}|${after.id}`,
      );
    const alerts = sorted.slice(0, limit).map((alert) => structuredClone(alert));
    const last = alerts.at(-1);
    return sorted.length > limit && last ? { alerts, next: alertCursor(last) } : { alerts };
  }
}
