// Groups: the pure rules (validation, the queue's choice, availability), the rate limit, and the
// use cases that route by them (capture fan-out and queueing, presence, a queue's backlog run).
import { describe, expect, it } from 'vitest';
import { type CaptureDeps, type CapturedMessage, captureMessage } from '../../functions/core/capture.ts';
import { type DeliveryDeps, deliverBacklog } from '../../functions/core/delivery.ts';
import {
  availabilityOf,
  chooseMember,
  type Group,
  STICKY_MS,
  setGroup,
  validateGroup,
} from '../../functions/core/groups.ts';
import type { EdgeDelivery, UserRecord } from '../../functions/core/ports.ts';
import { updatePresence } from '../../functions/core/presence.ts';
import { TokenBuckets } from '../../functions/core/rate-limit.ts';
import type { MessageToDeliver } from '../../shared/contract/delivery.ts';
import { InvalidRequestError, QuotaExceededError } from '../../shared/errors.ts';
import { MemoryGroupStore, MemoryQueue, MemoryStore } from '../fakes/memory-store.ts';

const NOW = Date.parse('2026-11-21T12:00:00Z');
const DOMAINS = new Set(['example.com']);
const A = 'sip:ann@example.com';
const B = 'sip:ben@example.com';
const C = 'sip:cat@example.com';
const SUPPORT = 'sip:support@example.com';
const TEAM = 'sip:team@example.com';

const online = (contact = 'sip:x@127.0.0.1:5090'): UserRecord => ({
  presence: {
    registration: { contact, expiresAt: new Date(NOW + 3_600_000).toISOString() },
    version: 1,
    updatedAt: new Date(NOW).toISOString(),
  },
  held: 0,
});

describe('chooseMember (the queue)', () => {
  const members = [A, B, C];
  it('takes the available member idle longest: never assigned first, then the oldest assignment', () => {
    const all = new Set(members);
    expect(chooseMember(members, all, { lastAssigned: { [A]: NOW - 10, [B]: NOW - 50 } }, NOW)).toBe(C);
    expect(
      chooseMember(members, all, { lastAssigned: { [A]: NOW - 10, [B]: NOW - 50, [C]: NOW } }, NOW),
    ).toBe(B);
    // ties (nobody assigned yet) in member order
    expect(chooseMember(members, all, { lastAssigned: {} }, NOW)).toBe(A);
  });

  it('skips members who are not available', () => {
    expect(chooseMember(members, new Set([A]), { lastAssigned: { [A]: NOW } }, NOW)).toBe(A);
  });

  it('keeps a conversation with its member while recent and they are available', () => {
    const state = {
      lastAssigned: { [A]: NOW - 5, [B]: NOW - 1000 },
      sticky: { member: A, atMs: NOW - 60_000 },
    };
    expect(chooseMember(members, new Set(members), state, NOW)).toBe(A);
    // too old: back to longest idle
    const stale = { ...state, sticky: { member: A, atMs: NOW - STICKY_MS - 1 } };
    expect(chooseMember(members, new Set(members), stale, NOW)).toBe(C);
    // the sticky member went away: another one takes it
    expect(chooseMember(members, new Set([B]), state, NOW)).toBe(B);
    // a sticky member no longer in the group is ignored
    expect(chooseMember([B, C], new Set([B, C]), state, NOW)).toBe(C);
  });

  it('gives nobody when nobody is available', () => {
    expect(chooseMember(members, new Set(), { lastAssigned: {} }, NOW)).toBeUndefined();
  });
});

describe('validateGroup', () => {
  it('normalises the group and its members, drops duplicates, keeps the order', () => {
    const group = validateGroup(
      'sips:support@Example.COM',
      { members: ['sip:ben@EXAMPLE.com', A, 'sip:ben@example.com;transport=tcp'], routing: 'one' },
      DOMAINS,
      NOW,
    );
    expect(group).toEqual({
      aor: SUPPORT,
      members: [B, A],
      routing: 'one',
      public: false,
      alertSenders: [],
      onExpire: 'drop',
      updatedAt: new Date(NOW).toISOString(),
    });
  });

  it('refuses a group or member outside the served domains, and a group in itself', () => {
    expect(() => validateGroup('sip:x@other.org', { members: [A], routing: 'all' }, DOMAINS, NOW)).toThrow(
      /other.org is not a domain served here/,
    );
    expect(() =>
      validateGroup(SUPPORT, { members: [A, 'sip:eve@other.org'], routing: 'all' }, DOMAINS, NOW),
    ).toThrow(/member sip:eve@other.org/);
    expect(() => validateGroup(SUPPORT, { members: [SUPPORT], routing: 'all' }, DOMAINS, NOW)).toThrow(
      InvalidRequestError,
    );
    expect(() => validateGroup(SUPPORT, { members: ['bob'], routing: 'all' }, DOMAINS, NOW)).toThrow(
      /not a SIP address of record/,
    );
  });

  it('refuses nesting: a member that is a group, or a group that is a member', async () => {
    const groups = new MemoryGroupStore();
    await setGroup(groups, TEAM, { members: [A, B], routing: 'all' }, DOMAINS, NOW);
    await expect(
      setGroup(groups, SUPPORT, { members: [TEAM], routing: 'one' }, DOMAINS, NOW),
    ).rejects.toThrow(/is a group/);
    await setGroup(groups, SUPPORT, { members: [C], routing: 'one' }, DOMAINS, NOW);
    await expect(setGroup(groups, C, { members: [A], routing: 'all' }, DOMAINS, NOW)).rejects.toThrow(
      /is a member of group/,
    );
  });
});

describe('availabilityOf', () => {
  const group = (isPublic: boolean): Group => ({
    aor: SUPPORT,
    members: [A, B],
    routing: 'one',
    public: isPublic,
    alertSenders: [],
    onExpire: 'drop',
    updatedAt: '',
  });
  const away: UserRecord = { held: 0 };
  const publicUser = (user: UserRecord): UserRecord => ({ ...user, settings: { public: true } });

  it('tells active, away and how many are available, for public users and groups', () => {
    expect(availabilityOf(A, { kind: 'user', user: publicUser(online()) }, NOW)).toEqual({
      aor: A,
      kind: 'user',
      status: 'active',
      available: 1,
    });
    expect(availabilityOf(A, { kind: 'user', user: publicUser(away) }, NOW)).toMatchObject({
      status: 'away',
      available: 0,
    });
    expect(
      availabilityOf(SUPPORT, { kind: 'group', group: group(true), members: [online(), away] }, NOW),
    ).toEqual({ aor: SUPPORT, kind: 'group', status: 'active', available: 1 });
    expect(
      availabilityOf(SUPPORT, { kind: 'group', group: group(true), members: [away, away] }, NOW),
    ).toMatchObject({ status: 'away', available: 0 });
  });

  it('answers for what is not public exactly as for what is unknown', () => {
    const unknown = availabilityOf(A, undefined, NOW);
    expect(unknown).toEqual({ aor: A, status: 'na', available: 0 });
    expect(availabilityOf(A, { kind: 'user', user: online() }, NOW)).toEqual(unknown);
    expect(
      availabilityOf(A, { kind: 'user', user: { ...online(), settings: { public: false } } }, NOW),
    ).toEqual(unknown);
    expect(
      availabilityOf(A, { kind: 'group', group: { ...group(false), aor: A }, members: [online()] }, NOW),
    ).toEqual(unknown);
  });

  it('counts a member who is online but holds in that state (dnd) as not available', () => {
    const base = online();
    const dnd: UserRecord = base.presence
      ? { ...base, presence: { ...base.presence, published: 'dnd' } }
      : base;
    expect(availabilityOf(SUPPORT, { kind: 'group', group: group(true), members: [dnd] }, NOW).status).toBe(
      'away',
    );
  });
});

describe('TokenBuckets', () => {
  it('allows the burst, then refuses with a Retry-After until tokens come back', () => {
    const buckets = new TokenBuckets(60, 3);
    for (let i = 0; i < 3; i++) expect(buckets.take('1.2.3.4', NOW).allowed).toBe(true);
    expect(buckets.take('1.2.3.4', NOW)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(buckets.take('5.6.7.8', NOW).allowed).toBe(true); // per client
    expect(buckets.take('1.2.3.4', NOW + 1000).allowed).toBe(true);
  });
});

// --- use cases ------------------------------------------------------------------------------

function system() {
  const store = new MemoryStore();
  store.now = () => NOW;
  const groups = new MemoryGroupStore();
  const queue = new MemoryQueue();
  let sequence = 0;
  const capture: CaptureDeps = {
    store,
    users: store,
    queue,
    groups,
    policy: { domains: DOMAINS, defaultExpireAfterMs: 72 * 3_600_000, maxBodyBytes: 65_536, quota: 2 },
    now: () => NOW,
    newId: () => `id-${String(++sequence).padStart(3, '0')}`,
  };
  const goOnline = (aor: string, port: number) =>
    updatePresence(
      { aor, state: 'online', source: 'register', contact: `sip:u@127.0.0.1:${port}`, expires: 300 },
      { users: store, queue, groups, now: () => NOW },
    );
  return { store, groups, queue, capture, goOnline };
}

const message = (overrides: Partial<CapturedMessage> = {}): CapturedMessage => ({
  callId: 'call-1@client',
  cseq: 1,
  from: 'sip:visitor@example.net',
  to: SUPPORT,
  contentType: 'text/plain',
  body: Buffer.from('hello'),
  ...overrides,
});

describe('capture to a group', () => {
  it('a distribution list holds one copy per member, deduplicated per member', async () => {
    const { store, groups, capture } = system();
    await groups.putGroup(validateGroup(TEAM, { members: [A, B, C], routing: 'all' }, DOMAINS, NOW));
    const result = await captureMessage(message({ to: TEAM }), capture);
    expect(result.status).toBe('held');
    expect(store.messages.map((m) => m.recipient).sort()).toEqual([A, B, C]);
    expect(store.messages.every((m) => m.sender === 'sip:visitor@example.net')).toBe(true);
    // the retransmission: every member already has it
    await expect(captureMessage(message({ to: TEAM }), capture)).resolves.toMatchObject({
      status: 'duplicate',
    });
    expect(store.messages).toHaveLength(3);
    // a member writing to the list gets no copy of their own
    await captureMessage(message({ to: TEAM, from: A, callId: 'from-ann' }), capture);
    expect(
      store.messages
        .filter((m) => m.callId === 'from-ann')
        .map((m) => m.recipient)
        .sort(),
    ).toEqual([B, C]);
  });

  it('with a store that reads group and user in one request, reads the recipient only that way', async () => {
    const { store, groups, capture } = system();
    await groups.putGroup(validateGroup(TEAM, { members: [A, B], routing: 'all' }, DOMAINS, NOW));
    const asked: string[] = [];
    const getGroup = groups.getGroup.bind(groups);
    const recipients = {
      readRecipient: async (aor: string) => {
        asked.push(aor);
        const [group, { settings }] = await Promise.all([getGroup(aor), store.getUser(aor)]);
        return { ...(group ? { group } : {}), ...(settings ? { settings } : {}) };
      },
    };
    groups.getGroup = async () => {
      throw new Error('read beside the user: should have been one read');
    };
    await captureMessage(message({ to: TEAM }), { ...capture, recipients });
    expect(store.messages.map((m) => m.recipient).sort()).toEqual([A, B]);
    await captureMessage(message({ to: C, callId: 'to-carol' }), { ...capture, recipients });
    expect(asked).toEqual([TEAM, C]);
    expect(store.heldFor(C)).toHaveLength(1);
  });

  it("a distribution list respects each member's quota, refusing only when nobody can take it", async () => {
    const { store, groups, capture } = system();
    await groups.putGroup(validateGroup(TEAM, { members: [A, B], routing: 'all' }, DOMAINS, NOW));
    for (let i = 1; i <= 2; i++) await captureMessage(message({ to: A, callId: `a-${i}` }), capture);
    await expect(captureMessage(message({ to: TEAM }), capture)).resolves.toMatchObject({ status: 'held' });
    expect(store.heldFor(A)).toHaveLength(2);
    expect(store.heldFor(B)).toHaveLength(1);
    await captureMessage(message({ to: B, callId: 'b-2' }), capture);
    await expect(captureMessage(message({ to: TEAM, callId: 'full' }), capture)).rejects.toThrow(
      QuotaExceededError,
    );
  });

  it('a queue gives the message to the available member idle longest, and the sender sticks to them', async () => {
    const { store, groups, queue, capture, goOnline } = system();
    await groups.putGroup(validateGroup(SUPPORT, { members: [A, B, C], routing: 'one' }, DOMAINS, NOW));
    await goOnline(B, 5001);
    await goOnline(C, 5002);
    await captureMessage(message({ callId: 'v1' }), capture);
    expect(store.messages.at(-1)?.recipient).toBe(B);
    expect(queue.jobs.at(-1)).toEqual({ kind: 'deliver', recipient: B });
    // another visitor: C has been idle longer now
    await captureMessage(message({ callId: 'w1', from: 'sip:walker@example.net' }), capture);
    expect(store.messages.at(-1)?.recipient).toBe(C);
    // the first visitor again: stays with B
    await captureMessage(message({ callId: 'v2' }), capture);
    expect(store.messages.at(-1)?.recipient).toBe(B);
  });

  it('a queue with nobody available holds for the group; the first member back gets it', async () => {
    const { store, groups, queue, capture, goOnline } = system();
    await groups.putGroup(validateGroup(SUPPORT, { members: [A, B], routing: 'one' }, DOMAINS, NOW));
    await captureMessage(message(), capture);
    expect(store.messages.map((m) => m.recipient)).toEqual([SUPPORT]);
    expect(queue.jobs).toEqual([]);
    await goOnline(B, 5003);
    expect(queue.jobs).toContainEqual({ kind: 'deliver', recipient: SUPPORT });

    const sent: Array<{ recipient: string; target?: string; messages: MessageToDeliver[] }> = [];
    const deps: DeliveryDeps = {
      users: store,
      store,
      queue,
      groups,
      edge: {
        deliver: async (request): Promise<EdgeDelivery> => {
          sent.push(request);
          return {
            outcomes: request.messages.map((m) => ({ id: m.id, status: 200, reason: 'OK' })),
            complete: true,
          };
        },
      },
      now: () => NOW,
      newId: () => 'owner',
      viaProxy: false,
      batchSize: 10,
      leaseMs: 60_000,
    };
    await expect(deliverBacklog(SUPPORT, deps)).resolves.toMatchObject({ outcome: 'done', delivered: 1 });
    expect(sent).toHaveLength(1);
    expect(sent[0]?.recipient).toBe(B);
    expect(sent[0]?.target).toBe('sip:u@127.0.0.1:5003');
    expect(sent[0]?.messages[0]?.from).toBe('sip:visitor@example.net');
    expect(store.heldFor(SUPPORT)).toHaveLength(0);
    // the conversation now sticks to B
    expect((await groups.queueState(SUPPORT, 'sip:visitor@example.net')).sticky?.member).toBe(B);
  });

  it("a queue's run with nobody available keeps the backlog", async () => {
    const { store, groups, queue, capture } = system();
    await groups.putGroup(validateGroup(SUPPORT, { members: [A], routing: 'one' }, DOMAINS, NOW));
    await captureMessage(message(), capture);
    const deps = {
      users: store,
      store,
      queue,
      groups,
      edge: { deliver: async () => ({ outcomes: [], complete: true }) },
      now: () => NOW,
      newId: () => 'owner',
      viaProxy: false,
      batchSize: 10,
      leaseMs: 60_000,
    } satisfies DeliveryDeps;
    await expect(deliverBacklog(SUPPORT, deps)).resolves.toMatchObject({ outcome: 'held' });
    expect(store.heldFor(SUPPORT)).toHaveLength(1);
  });
});
