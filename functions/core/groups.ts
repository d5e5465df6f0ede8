// Groups (docs/design.md "Groups and availability"): an AOR in a served domain whose messages go
// to its members, all of them (`all`, a distribution list) or one available member (`one`, a
// queue: longest idle first, and a conversation stays with the member who took it). The rules
// here are pure; the GroupStore port keeps the groups and each queue's memory (who got what when).

import { domainOf, normalizeAor } from '../../shared/aor.ts';
import {
  ALERT_EXPIRY_POLICIES,
  type AlertExpiryPolicy,
  ROUTINGS,
  type Routing,
} from '../../shared/contract/views.ts';
import { InvalidRequestError } from '../../shared/errors.ts';
import * as z from '../../shared/zod.ts';
import type { UserRecord, UserStore } from './ports.ts';
import { effectivePresence, holdsMessages } from './presence.ts';

/** Members of one group at most: a group is written in one transaction with its membership items. */
export const MAX_MEMBERS = 90;
/** A sender's conversation stays with the member who took it for this long after the last message. */
export const STICKY_MS = 30 * 60_000;

/** An alert sender: a mailbox (`ops@example.com`) or a whole domain (`@example.com`). */
const alertSender = z.string().check(
  z.trim(),
  z.toLowerCase(),
  z.refine((text) => /^(?:[^@\s]+)?@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/.test(text), {
    message: 'must be an address (ops@example.com) or a domain (@example.com)',
  }),
);

/** The body of `PUT /v1/groups/{aor}`: the whole group, replaced. */
export const GroupInputSchema = z.strictObject({
  members: z
    .array(z.string().check(z.minLength(1), z.maxLength(2048)))
    .check(z.minLength(1), z.maxLength(MAX_MEMBERS)),
  routing: z.enum(ROUTINGS),
  public: z.optional(z.boolean()),
  email: z.optional(z.email({ message: 'must be an email address' })),
  alertSenders: z.optional(z.array(alertSender).check(z.maxLength(100))),
  onExpire: z.optional(z.enum(ALERT_EXPIRY_POLICIES)),
});
export type GroupInput = z.infer<typeof GroupInputSchema>;

export interface Group {
  aor: string;
  members: string[];
  routing: Routing;
  public: boolean;
  /** Inbound address (mail → IM alerts). */
  email?: string;
  alertSenders: string[];
  /** What becomes of an alert copy that expired undelivered. */
  onExpire: AlertExpiryPolicy;
  updatedAt: string;
}

const StoredGroupSchema = z.object({
  aor: z.string(),
  members: z.array(z.string()),
  routing: z.enum(ROUTINGS),
  public: z.boolean(),
  email: z.optional(z.string()),
  alertSenders: z.array(z.string()),
  // groups stored before alerts had a policy take the default
  onExpire: z._default(z.enum(ALERT_EXPIRY_POLICIES), 'drop'),
  updatedAt: z.string(),
});

/** A group as an adapter stored it (a DynamoDB item, a SQLite row's JSON), checked. */
export function parseStoredGroup(value: unknown): Group {
  const { email, ...rest } = StoredGroupSchema.parse(value);
  return { ...rest, ...(email ? { email } : {}) };
}

/** What a queue remembers: when each member last got a message from it, and who has a sender. */
export interface QueueState {
  /** Epoch ms of each member's last assignment; a member never assigned is the most idle. */
  lastAssigned: Record<string, number>;
  /** The member who had this sender's conversation, and when its last message went to them. */
  sticky?: { member: string; atMs: number };
}

export interface GroupStore {
  getGroup(aor: string): Promise<Group | undefined>;
  /** Stores the group and its membership entries (a member's groups, for presence). */
  putGroup(group: Group): Promise<void>;
  /** False if there was none. */
  removeGroup(aor: string): Promise<boolean>;
  listGroups(page?: { limit?: number; after?: string }): Promise<{ groups: Group[]; next?: string }>;
  /** The groups `member` belongs to, with their routing. */
  groupsOf(member: string): Promise<Array<{ group: string; routing: Routing }>>;
  queueState(group: string, sender: string): Promise<QueueState>;
  /** `member` got a message of `sender` from the queue at `atMs` (idle time and stickiness). */
  recordAssignment(group: string, member: string, sender: string, atMs: number): Promise<void>;
}

/**
 * Validates a group as the operator gives it: the group and every member are SIP AORs of served
 * domains (normalised, duplicates dropped, in the order given), the group is not its own member.
 */
export function validateGroup(
  aorText: string,
  input: GroupInput,
  domains: ReadonlySet<string>,
  nowMs: number,
): Group {
  const aor = normalizeAor(aorText);
  if (!domains.has(domainOf(aor))) {
    throw new InvalidRequestError(`${aor}: ${domainOf(aor)} is not a domain served here`);
  }
  const members: string[] = [];
  for (const text of input.members) {
    const member = normalizeAor(text);
    if (!domains.has(domainOf(member))) {
      throw new InvalidRequestError(
        `member ${member}: ${domainOf(member)} is not a domain served here; members must be local users`,
      );
    }
    if (member === aor) throw new InvalidRequestError(`${aor} cannot be a member of itself`);
    if (!members.includes(member)) members.push(member);
  }
  return {
    aor,
    members,
    routing: input.routing,
    public: input.public ?? false,
    ...(input.email ? { email: input.email.trim().toLowerCase() } : {}),
    alertSenders: [...new Set(input.alertSenders ?? [])],
    onExpire: input.onExpire ?? 'drop',
    updatedAt: new Date(nowMs).toISOString(),
  };
}

/** Whether a user takes messages now (their presence does not hold them). */
export function isAvailable(user: UserRecord, nowMs: number): boolean {
  const presence = effectivePresence(user.presence, nowMs);
  return !holdsMessages(presence.state, user.settings, nowMs);
}

/**
 * The queue's choice for a message of `sender` (pure): the member who has this sender's
 * conversation, if they are available and it is not older than `stickyMs`; else the available
 * member idle longest (never assigned first, then oldest assignment; ties in member order);
 * undefined when nobody is available — the message is then held for the group.
 */
export function chooseMember(
  members: readonly string[],
  available: ReadonlySet<string>,
  state: QueueState,
  nowMs: number,
  stickyMs: number = STICKY_MS,
): string | undefined {
  const sticky = state.sticky;
  if (
    sticky !== undefined &&
    members.includes(sticky.member) &&
    available.has(sticky.member) &&
    nowMs - sticky.atMs <= stickyMs
  ) {
    return sticky.member;
  }
  let best: string | undefined;
  let bestAt = Number.POSITIVE_INFINITY;
  for (const member of members) {
    if (!available.has(member)) continue;
    const at = state.lastAssigned[member] ?? Number.NEGATIVE_INFINITY;
    if (at < bestAt) {
      best = member;
      bestAt = at;
    }
  }
  return best;
}

export type AvailabilityStatus = 'active' | 'away' | 'na';

/** What `GET /v1/availability/{aor}` answers; `kind` is absent for `na`. */
export interface Availability {
  aor: string;
  kind?: 'user' | 'group';
  status: AvailabilityStatus;
  available: number;
}

/**
 * The answer for `aor` (pure). Only what is public is told: a user whose settings say `public`,
 * a group marked `public`; anything else answers exactly as an unknown AOR does,
 * `{aor, status: "na", available: 0}` without a kind, so nobody can tell who exists.
 */
export function availabilityOf(
  aor: string,
  subject:
    | { kind: 'user'; user: UserRecord }
    | { kind: 'group'; group: Group; members: UserRecord[] }
    | undefined,
  nowMs: number,
): Availability {
  if (subject?.kind === 'user' && subject.user.settings?.public === true) {
    const available = isAvailable(subject.user, nowMs) ? 1 : 0;
    return { aor, kind: 'user', status: available > 0 ? 'active' : 'away', available };
  }
  if (subject?.kind === 'group' && subject.group.public) {
    const available = subject.members.filter((member) => isAvailable(member, nowMs)).length;
    return { aor, kind: 'group', status: available > 0 ? 'active' : 'away', available };
  }
  return unknownAvailability(aor);
}

export function unknownAvailability(aor: string): Availability {
  return { aor, status: 'na', available: 0 };
}

/**
 * Use case: set (replace) a group. A member may not be a group itself (no nesting: a queue
 * chooses among people), nor may the group be a member of another group.
 */
export async function setGroup(
  store: GroupStore,
  aorText: string,
  input: GroupInput,
  domains: ReadonlySet<string>,
  nowMs: number,
): Promise<Group> {
  const group = validateGroup(aorText, input, domains, nowMs);
  const [nested, containing] = await Promise.all([
    Promise.all(group.members.map((member) => store.getGroup(member))),
    store.groupsOf(group.aor),
  ]);
  const inner = nested.find((found) => found !== undefined);
  if (inner) throw new InvalidRequestError(`member ${inner.aor} is a group; list its members instead`);
  if (containing[0]) {
    throw new InvalidRequestError(
      `${group.aor} is a member of group ${containing[0].group}; a group cannot be`,
    );
  }
  if (group.email !== undefined) {
    const owner = await groupByInboundAddress(store, group.email);
    if (owner !== undefined && owner.aor !== group.aor) {
      throw new InvalidRequestError(`${group.email} is already the inbound address of ${owner.aor}`);
    }
  }
  await store.putGroup(group);
  return group;
}

/**
 * Looks up what `GET /v1/availability/{aor}` answers (and whom a chat may be started with): the
 * same two reads for every AOR (its group entry and its user items), so an unknown AOR and a
 * private one answer alike and about as fast; members are read only for a public group.
 */
export async function lookUpAvailability(
  text: string,
  deps: { groups: GroupStore; users: UserStore },
  nowMs: number,
): Promise<Availability> {
  let aor: string;
  try {
    aor = normalizeAor(text);
  } catch {
    return unknownAvailability(text);
  }
  const [group, user] = await Promise.all([
    deps.groups.getGroup(aor),
    deps.users.getUser(aor, { countHeld: false }),
  ]);
  if (group === undefined) return availabilityOf(aor, { kind: 'user', user }, nowMs);
  if (!group.public) return unknownAvailability(aor);
  const members = await Promise.all(
    group.members.map((member) => deps.users.getUser(member, { countHeld: false })),
  );
  return availabilityOf(aor, { kind: 'group', group, members }, nowMs);
}

/**
 * The group whose inbound address (mail → IM alerts) is `address`, compared case-insensitively.
 * Groups are few and written by the operator: the list is read page by page, no index is kept.
 */
export async function groupByInboundAddress(store: GroupStore, address: string): Promise<Group | undefined> {
  return (await groupsByInboundAddress(store, [address])).get(address.trim().toLowerCase());
}

/**
 * The groups whose inbound addresses are among `addresses`, by lower-cased address: one reading of
 * the group list for all of them (a mail's several recipients), stopping once each is found.
 */
export async function groupsByInboundAddress(
  store: GroupStore,
  addresses: readonly string[],
): Promise<Map<string, Group>> {
  const wanted = new Set(addresses.map((address) => address.trim().toLowerCase()));
  const found = new Map<string, Group>();
  if (wanted.size === 0) return found;
  let after: string | undefined;
  do {
    const page = await store.listGroups({ limit: 1000, ...(after ? { after } : {}) });
    for (const group of page.groups) {
      const email = group.email?.toLowerCase();
      if (email !== undefined && wanted.has(email)) found.set(email, group);
    }
    after = page.next;
  } while (after !== undefined && found.size < wanted.size);
  return found;
}
