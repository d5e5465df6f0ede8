// The one contract of the store ports (docs/design.md "Storage"), run unchanged against every
// implementation: the in-memory fake (unit), SQLite on a temporary file and DynamoDB Local
// (integration). Every transition and its condition, the races the conditions exist for, the
// page boundaries, and TTL: a row past its time is absent. Each test uses its own recipients, so
// a shared table stays usable; the clock is the suite's, moved forward where time must pass.
import { ulid } from 'ulid';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dedupeKey } from '../../functions/core/capture.ts';
import type { CredentialStore } from '../../functions/core/credentials.ts';
import { type DeliveryDeps, deliverBacklog } from '../../functions/core/delivery.ts';
import type { ExpiryEntry, ExpiryStore } from '../../functions/core/expiry.ts';
import type { HeldMessage } from '../../functions/core/held-message.ts';
import {
  type BounceStore,
  type DeliveryStore,
  type Edge,
  LeaseLostError,
  type MessageStore,
  type NonceStore,
  type SettingsStore,
  type UserStore,
} from '../../functions/core/ports.ts';
import type { SessionStore } from '../../functions/core/session.ts';
import { ha1s } from '../../shared/sip-digest.ts';
import { MemoryQueue } from '../fakes/memory-store.ts';

export type ContractStore = MessageStore &
  SettingsStore &
  UserStore &
  DeliveryStore &
  ExpiryStore &
  BounceStore;

export interface StoresUnderTest {
  store: ContractStore;
  credentials: CredentialStore;
  nonces: NonceStore;
  sessions: SessionStore;
  /** The same data seen by another worker (another connection or client), on the same clock. */
  other: ContractStore;
  /** Shards of the expiry index (`due`, `earliestExpiry`). */
  shards: number;
  close?: () => Promise<void>;
}

/** Builds the stores once for the suite; every time they read comes from `now`. */
export type MakeStores = (now: () => number) => Promise<StoresUnderTest>;

const DAY = 86_400_000;

export function describeStoreContract(name: string, makeStores: MakeStores): void {
  describe(`store contract: ${name}`, () => {
    let offset = 0;
    const now = () => Date.now() + offset;
    let stores: StoresUnderTest;
    let store: ContractStore;

    beforeAll(async () => {
      stores = await makeStores(now);
      store = stores.store;
    });
    afterAll(async () => {
      await stores?.close?.();
    });
    afterEach(() => {
      offset = 0;
    });

    let counter = 0;
    const heldMessage = (recipient: string, overrides: Partial<HeldMessage> = {}): HeldMessage => {
      const at = now() + counter++;
      return {
        id: ulid(at),
        recipient,
        sender: 'sip:alice@example.com',
        senderUri: 'sip:alice@example.com;transport=tcp',
        senderName: 'Alice',
        callId: `call-${ulid()}`,
        cseq: 1,
        contentType: 'text/plain; charset=utf-8',
        body: Buffer.from('Grüße 🎉 <b>&</b>', 'utf8'),
        receivedAt: new Date(at).toISOString(),
        expiresAt: new Date(at + 3_600_000).toISOString(),
        state: 'pending',
        ...overrides,
      };
    };
    const uniqueUser = () => `sip:user-${ulid().toLowerCase()}@example.com`;
    const guard = (message: HeldMessage, quota = 1000) => ({
      dedupeKeys: [dedupeKey('call', message.callId, String(message.cseq))],
      quota,
    });
    const holdAll = async (messages: HeldMessage[]) => {
      for (const message of messages)
        expect(await store.hold(message, guard(message))).toMatchObject({ outcome: 'held' });
    };
    const listAll = async (recipient: string) => (await store.listHeld(recipient, { limit: 1000 })).messages;
    const states = async (recipient: string) => (await listAll(recipient)).map((m) => [m.id, m.state]);
    const entryOf = (message: HeldMessage, state = message.state): ExpiryEntry => ({
      recipient: message.recipient,
      id: message.id,
      receivedAt: message.receivedAt,
      expiresAt: message.expiresAt,
      state,
    });
    const allDue = async (bound: string) => {
      const entries: ExpiryEntry[] = [];
      for (let shard = 0; shard < stores.shards; shard++) {
        let after: unknown;
        do {
          const page = await store.due(shard, bound, after);
          entries.push(...page.entries);
          after = page.next;
        } while (after !== undefined);
      }
      return entries;
    };

    describe('messages: hold, dedupe, quota, listing', () => {
      it('holds messages and lists them oldest first, every field kept, bodies byte-exact', async () => {
        const recipient = uniqueUser();
        const binary = new Uint8Array(256).map((_, index) => index);
        const messages = [
          heldMessage(recipient, { body: Buffer.from('#1 ünï 🎉', 'utf8') }),
          heldMessage(recipient, {
            body: binary,
            contentType: 'message/cpim',
            cpim: {
              from: 'sip:alice@example.com',
              imdnMessageId: 'imdn-1',
              imdnDisposition: 'positive-delivery',
            },
            subject: 'Hi',
            replyTo: 'sip:alice@127.0.0.1:5070',
          }),
          heldMessage(recipient, { body: new Uint8Array(), senderName: undefined }),
        ];
        for (const message of [...messages].reverse()) {
          // stored newest first: the listing must still come back oldest first
          await expect(store.hold(message, guard(message))).resolves.toMatchObject({ outcome: 'held' });
        }
        const listed = await listAll(recipient);
        expect(listed.map((m) => m.id)).toEqual(messages.map((m) => m.id));
        expect(listed.map((m) => Buffer.from(m.body).toString('hex'))).toEqual(
          messages.map((m) => Buffer.from(m.body).toString('hex')),
        );
        const { senderName: _dropped, ...withoutName } = messages[2] as HeldMessage;
        const normal = (m: HeldMessage) => ({ ...m, body: Buffer.from(m.body).toString('hex') });
        expect(listed.map(normal)).toEqual(
          [messages[0], messages[1], withoutName].map((m) => normal(m as HeldMessage)),
        );
      });

      it('stores a duplicate once and returns the first id, by any of its dedupe keys', async () => {
        const recipient = uniqueUser();
        const first = heldMessage(recipient);
        await store.hold(first, { dedupeKeys: [`k1-${first.id}`, `k2-${first.id}`], quota: 1000 });
        const again = heldMessage(recipient);
        await expect(
          store.hold(again, { dedupeKeys: [`other-${again.id}`, `k2-${first.id}`], quota: 1000 }),
        ).resolves.toEqual({
          outcome: 'duplicate',
          id: first.id,
          expiresAt: first.expiresAt,
        });
        // the refused one left no marker of its own key either
        const third = heldMessage(recipient);
        await expect(
          store.hold(third, { dedupeKeys: [`other-${again.id}`], quota: 1000 }),
        ).resolves.toMatchObject({
          outcome: 'held',
        });
        expect((await listAll(recipient)).map((m) => m.id)).toEqual([first.id, third.id]);
      });

      it('lets exactly one of many concurrent duplicates through', async () => {
        const recipient = uniqueUser();
        const callId = `race-${ulid()}`;
        const attempts = Array.from({ length: 8 }, () => ({ ...heldMessage(recipient), callId }));
        const targets = [store, stores.other];
        const outcomes = await Promise.all(
          attempts.map((message, index) =>
            (targets[index % 2] as ContractStore).hold(message, guard(message)),
          ),
        );
        expect(outcomes.filter((o) => o.outcome === 'held')).toHaveLength(1);
        expect(outcomes.filter((o) => o.outcome === 'duplicate')).toHaveLength(7);
        expect(await listAll(recipient)).toHaveLength(1);
      });

      it('refuses past the quota with the held count, and leaves no dedupe marker behind', async () => {
        const recipient = uniqueUser();
        await holdAll([heldMessage(recipient), heldMessage(recipient), heldMessage(recipient)]);
        const refused = heldMessage(recipient);
        await expect(store.hold(refused, guard(refused, 3))).resolves.toEqual({ outcome: 'quota', held: 3 });
        // the refused message's Call-ID was not marked: with room again it is held
        await expect(store.hold(refused, guard(refused, 4))).resolves.toMatchObject({ outcome: 'held' });
      });

      it('at the quota edge, of concurrent holds at most the room left gets in: never past the quota', async () => {
        // The promise is "at most `quota` held". A store that counts beside its write (DynamoDB)
        // may refuse more of the racers for the last places than needed (each 486, none dropped);
        // no store lets more in.
        const recipient = uniqueUser();
        await holdAll([heldMessage(recipient), heldMessage(recipient)]);
        const racing = Array.from({ length: 6 }, () => heldMessage(recipient));
        const targets = [store, stores.other];
        const outcomes = await Promise.all(
          racing.map((message, index) =>
            (targets[index % 2] as ContractStore).hold(message, guard(message, 3)),
          ),
        );
        const held = outcomes.filter((o) => o.outcome === 'held').length;
        expect(held).toBeLessThanOrEqual(1);
        expect(outcomes.filter((o) => o.outcome === 'quota')).toHaveLength(6 - held);
        expect(await listAll(recipient)).toHaveLength(2 + held);
        expect((await store.getUser(recipient)).held).toBe(2 + held);
        // the refused left nothing behind: a hold after the race gets the room that is left
        const after = heldMessage(recipient);
        await expect(store.hold(after, guard(after, 3))).resolves.toMatchObject(
          held === 0 ? { outcome: 'held' } : { outcome: 'quota', held: 3 },
        );
        expect(await listAll(recipient)).toHaveLength(3);
      });

      it('does not write a hold whose deadline has passed', async () => {
        const recipient = uniqueUser();
        const late = heldMessage(recipient);
        await expect(store.hold(late, guard(late), { deadline: now() - 1 })).rejects.toThrow();
        expect(await listAll(recipient)).toEqual([]);
        const inTime = heldMessage(recipient);
        await expect(store.hold(inTime, guard(inTime), { deadline: now() + 5000 })).resolves.toMatchObject({
          outcome: 'held',
        });
      });

      it('pages through a recipient: every message once, in order, at most `limit` a page', async () => {
        for (const total of [5, 4]) {
          const recipient = uniqueUser();
          const messages = Array.from({ length: total }, () => heldMessage(recipient));
          await holdAll(messages);
          const seen: string[] = [];
          let after: string | undefined;
          let pages = 0;
          do {
            const page = await store.listHeld(recipient, { limit: 2, ...(after ? { after } : {}) });
            expect(page.messages.length).toBeLessThanOrEqual(2);
            seen.push(...page.messages.map((m) => m.id));
            after = page.next;
            pages++;
          } while (after !== undefined && pages < 10);
          expect(seen).toEqual(messages.map((m) => m.id));
        }
      });

      it('treats a message past its time as absent: not listed, not deliverable, its marker free', async () => {
        const recipient = uniqueUser();
        const longGone = heldMessage(recipient, {
          receivedAt: new Date(now() - 20 * DAY).toISOString(),
          expiresAt: new Date(now() - 10 * DAY).toISOString(),
        });
        await store.hold(longGone, guard(longGone));
        expect(await listAll(recipient)).toEqual([]);
        expect(await store.deliverable(recipient, 10)).toEqual([]);
        const again = { ...heldMessage(recipient), callId: longGone.callId };
        await expect(store.hold(again, guard(again))).resolves.toMatchObject({ outcome: 'held' });
        expect((await listAll(recipient)).map((m) => m.id)).toEqual([again.id]);
      });

      it('counts held messages by state, recipients and the oldest', async () => {
        const before = await store.stats();
        const recipient = uniqueUser();
        const messages = [heldMessage(recipient), heldMessage(recipient)];
        await holdAll(messages);
        const after = await store.stats();
        expect(after.byState.pending - before.byState.pending).toBe(2);
        expect(after.recipients - before.recipients).toBe(1);
        expect(Object.keys(after.byState).sort()).toEqual([
          'bounced',
          'dead',
          'delivering',
          'expiring',
          'pending',
        ]);
        expect(after.oldestReceivedAt).toBeDefined();
        expect((after.oldestReceivedAt ?? '') <= (messages[0]?.receivedAt ?? '')).toBe(true);
      });
    });

    describe('settings, users and presence', () => {
      it('reads and replaces settings', async () => {
        const aor = uniqueUser();
        await expect(store.getSettings(aor)).resolves.toBeUndefined();
        await store.putSettings(aor, { expireAfter: '30m', hold: ['offline', 'dnd'] });
        await expect(store.getSettings(aor)).resolves.toEqual({
          expireAfter: '30m',
          hold: ['offline', 'dnd'],
        });
        await store.putSettings(aor, { email: 'bob@mail.example.com' });
        await expect(store.getSettings(aor)).resolves.toEqual({ email: 'bob@mail.example.com' });
      });

      it('lists a user on vacation while it is in force', async () => {
        const aor = uniqueUser();
        const until = new Date(now() + DAY).toISOString();
        await store.putSettings(aor, { vacation: { until, autoReply: 'away' } });
        expect(await store.onVacation(new Date(now()).toISOString())).toContain(aor);
        expect(await store.onVacation(new Date(now() + 2 * DAY).toISOString())).not.toContain(aor);
        await store.putSettings(aor, {});
        expect(await store.onVacation(new Date(now()).toISOString())).not.toContain(aor);
      });

      it('reads a user in one go: held count, settings, presence', async () => {
        const aor = uniqueUser();
        await expect(store.getUser(aor)).resolves.toEqual({ held: 0 });
        await holdAll([heldMessage(aor)]);
        await store.putSettings(aor, { hold: ['offline'] });
        const presence = {
          registration: {
            contact: 'sip:bob@127.0.0.1:5072',
            expiresAt: new Date(now() + 60_000).toISOString(),
          },
          published: 'busy' as const,
          version: 1,
          updatedAt: new Date(now()).toISOString(),
        };
        await expect(store.putPresence(aor, presence, 0)).resolves.toBe(true);
        await expect(store.getUser(aor)).resolves.toEqual({
          held: 1,
          settings: { hold: ['offline'] },
          presence,
        });
      });

      it('keeps presence apart from the messages: not counted, listed, delivered nor against the quota; a hold that reads it reads it as stored', async () => {
        const aor = uniqueUser();
        const until = new Date(now() + 60_000).toISOString();
        const presence = {
          registration: { contact: 'sip:bob@127.0.0.1:5072', expiresAt: until },
          published: 'away' as const,
          version: 1,
          updatedAt: new Date(now()).toISOString(),
        };
        await expect(store.putPresence(aor, presence, 0)).resolves.toBe(true);
        const first = heldMessage(aor);
        const second = heldMessage(aor);
        const third = heldMessage(aor);
        const outcome = await store.hold(first, guard(first, 2));
        expect(outcome.outcome).toBe('held');
        if (outcome.outcome === 'held' && outcome.after)
          expect(outcome.after.presence).toEqual({ published: 'away', registeredUntil: until });
        // changed after the first write: the next hold reads the change (none published, registered)
        await expect(
          store.putPresence(aor, { registration: presence.registration, version: 2, updatedAt: 'b' }, 1),
        ).resolves.toBe(true);
        const next = await store.hold(second, guard(second, 2));
        expect(next.outcome).toBe('held');
        if (next.outcome === 'held' && next.after)
          expect(next.after.presence).toEqual({ registeredUntil: until });
        await expect(store.hold(third, guard(third, 2))).resolves.toEqual({
          outcome: 'quota',
          held: 2,
        });
        expect((await store.getUser(aor)).held).toBe(2);
        expect((await listAll(aor)).map((m) => m.id)).toEqual([first.id, second.id]);
        expect((await store.deliverable(aor, 10)).map((m) => m.id)).toEqual([first.id, second.id]);
        // none stored: a hold that reads it says so
        const nobody = uniqueUser();
        const alone = heldMessage(nobody);
        const none = await store.hold(alone, guard(alone));
        if (none.outcome === 'held' && none.after) expect(none.after.presence).toBeUndefined();
      });

      it('writes presence only from the version it read; of concurrent writers one wins', async () => {
        const aor = uniqueUser();
        await expect(store.putPresence(aor, { version: 1, updatedAt: 'a' }, 0)).resolves.toBe(true);
        await expect(store.putPresence(aor, { version: 1, updatedAt: 'b' }, 0)).resolves.toBe(false);
        await expect(store.putPresence(aor, { version: 2, updatedAt: 'c' }, 1)).resolves.toBe(true);
        await expect(store.putPresence(aor, { version: 3, updatedAt: 'd' }, 1)).resolves.toBe(false);
        const racing = await Promise.all(
          ['e', 'f', 'g', 'h'].map((updatedAt, index) =>
            (index % 2 ? stores.other : store).putPresence(aor, { version: 3, updatedAt }, 2),
          ),
        );
        expect(racing.filter(Boolean)).toHaveLength(1);
        expect((await store.getUser(aor)).presence?.version).toBe(3);
      });

      it('claims an automatic notice once per window, per sender', async () => {
        const aor = uniqueUser();
        await expect(store.claimNotice(aor, 'sip:alice@example.com', 60_000)).resolves.toBe(true);
        await expect(store.claimNotice(aor, 'sip:alice@example.com', 60_000)).resolves.toBe(false);
        await expect(store.claimNotice(aor, 'sip:carol@example.com', 60_000)).resolves.toBe(true);
        offset = 61_000;
        await expect(store.claimNotice(aor, 'sip:alice@example.com', 60_000)).resolves.toBe(true);
        await expect(store.claimNotice(aor, 'sip:alice@example.com', 60_000)).resolves.toBe(false);
      });
    });

    describe('delivery: lease, deliverable, in-flight ownership', () => {
      it('grants the lease to one owner until it is released or lapses', async () => {
        const aor = uniqueUser();
        await expect(store.acquireLease(aor, 'a', 60_000)).resolves.toBe(true);
        await expect(store.acquireLease(aor, 'b', 60_000)).resolves.toBe(false);
        await expect(store.acquireLease(aor, 'a', 60_000)).resolves.toBe(true); // renewed (heartbeat)
        await store.releaseLease(aor, 'b'); // not the owner: no effect
        await expect(store.acquireLease(aor, 'b', 60_000)).resolves.toBe(false);
        await store.releaseLease(aor, 'a');
        await expect(store.acquireLease(aor, 'b', 1000)).resolves.toBe(true);
        offset = 2000;
        await expect(store.acquireLease(aor, 'c', 60_000)).resolves.toBe(true);
      });

      it('of two workers asking at once, one gets the lease', async () => {
        const aor = uniqueUser();
        const granted = await Promise.all([
          store.acquireLease(aor, 'worker-1', 60_000),
          stores.other.acquireLease(aor, 'worker-2', 60_000),
          store.acquireLease(aor, 'worker-3', 60_000),
        ]);
        expect(granted.filter(Boolean)).toHaveLength(1);
      });

      it('moves messages pending → delivering → deleted conditionally, and counts down', async () => {
        const aor = uniqueUser();
        const messages = Array.from({ length: 30 }, () => heldMessage(aor));
        await holdAll(messages);
        const deliverable = await store.deliverable(aor, 30);
        expect(deliverable.map((m) => m.id)).toEqual(messages.map((m) => m.id));
        await expect(store.acquireLease(aor, 'run-1', 60_000)).resolves.toBe(true);
        const owned = await store.markDelivering(deliverable, 'run-1');
        expect(owned.map((m) => [m.id, m.state, m.owner])).toEqual(
          messages.map((m) => [m.id, 'delivering', 'run-1']),
        );
        await store.releaseToPending(owned.slice(20), 'run-1');
        await store.removeDelivered(owned); // only the 20 still delivering go
        expect(await states(aor)).toEqual(messages.slice(20).map((m) => [m.id, 'pending']));
        expect((await listAll(aor)).every((m) => m.owner === undefined)).toBe(true);
        expect((await store.getUser(aor)).held).toBe(10);
      });

      it('gives deliverable messages a page at a time after a cursor, pending and delivering only', async () => {
        const aor = uniqueUser();
        const messages = Array.from({ length: 5 }, () => heldMessage(aor));
        await holdAll(messages);
        const [first, second, third, fourth, fifth] = messages as [
          HeldMessage,
          HeldMessage,
          HeldMessage,
          HeldMessage,
          HeldMessage,
        ];
        // the second is claimed by expiry, the fourth is in flight
        await expect(store.claimForExpiry([entryOf(second)], now(), now() - 1_800_000)).resolves.toHaveLength(
          1,
        );
        await store.acquireLease(aor, 'run', 60_000);
        await store.markDelivering([fourth], 'run');
        expect((await store.deliverable(aor, 2)).map((m) => m.id)).toEqual([first.id, third.id]);
        expect((await store.deliverable(aor, 2, third)).map((m) => [m.id, m.state])).toEqual([
          [fourth.id, 'delivering'],
          [fifth.id, 'pending'],
        ]);
        expect(await store.deliverable(aor, 2, fifth)).toEqual([]);
        // a message expiry took meanwhile is not marked
        const marked = await store.markDelivering([first, second, third], 'run');
        expect(marked.map((m) => m.id)).toEqual([first.id, third.id]);
        expect(await states(aor)).toEqual([
          [first.id, 'delivering'],
          [second.id, 'expiring'],
          [third.id, 'delivering'],
          [fourth.id, 'delivering'],
          [fifth.id, 'pending'],
        ]);
      });

      it('marks delivering only under the live lease; a crashed run’s messages are taken over once it lapsed', async () => {
        const aor = uniqueUser();
        const messages = [heldMessage(aor), heldMessage(aor)];
        await holdAll(messages);
        await expect(store.markDelivering(messages, 'run-a')).rejects.toThrow(LeaseLostError); // no lease
        expect(await states(aor)).toEqual(messages.map((m) => [m.id, 'pending']));
        await store.acquireLease(aor, 'run-a', 60_000);
        await expect(store.markDelivering(messages, 'run-a')).resolves.toHaveLength(2);
        // run-a dies holding them; run-b cannot take them while run-a's lease lives…
        await expect(stores.other.acquireLease(aor, 'run-b', 60_000)).resolves.toBe(false);
        await expect(stores.other.markDelivering(messages, 'run-b')).rejects.toThrow(LeaseLostError);
        // …nor hand them back as pending, nor delete them as delivered by itself
        await stores.other.releaseToPending(messages, 'run-b');
        expect((await listAll(aor)).map((m) => [m.state, m.owner])).toEqual([
          ['delivering', 'run-a'],
          ['delivering', 'run-a'],
        ]);
        // two minutes later the lease has run out: run-b takes over
        offset = 120_000;
        await expect(stores.other.acquireLease(aor, 'run-b', 60_000)).resolves.toBe(true);
        // and run-a, back from a stall, can no longer mark
        await expect(store.markDelivering(messages, 'run-a')).rejects.toThrow(LeaseLostError);
        const taken = await stores.other.markDelivering(await stores.other.deliverable(aor, 10), 'run-b');
        expect(taken.map((m) => [m.id, m.owner])).toEqual(messages.map((m) => [m.id, 'run-b']));
        await store.releaseToPending(taken, 'run-a'); // not its own any more: nothing
        await stores.other.releaseToPending(taken, 'run-b');
        expect((await listAll(aor)).map((m) => [m.state, m.owner])).toEqual([
          ['pending', undefined],
          ['pending', undefined],
        ]);
      });

      it('keeps one worker when a batch is slower than the lease: renewed in flight, nothing sent twice', async () => {
        const aor = uniqueUser();
        const messages = Array.from({ length: 6 }, () => heldMessage(aor));
        await holdAll(messages);
        await store.putPresence(
          aor,
          {
            registration: {
              contact: 'sip:ua@127.0.0.1:5072',
              expiresAt: new Date(now() + 3_600_000).toISOString(),
            },
            version: 1,
            updatedAt: new Date(now()).toISOString(),
          },
          0,
        );
        const sent: string[] = [];
        // each batch takes 1.2 s against a lease of 0.5 s (as 300 s against 120 s)
        const slowEdge: Edge = {
          async deliver(request) {
            sent.push(...request.messages.map((m) => m.id));
            await new Promise((resolve) => setTimeout(resolve, 1200));
            return {
              outcomes: request.messages.map((m) => ({ id: m.id, status: 200, reason: 'OK' })),
              complete: true,
            };
          },
        };
        let ids = 0;
        const deps = (worker: string, on: ContractStore): DeliveryDeps => ({
          users: on,
          store: on,
          queue: new MemoryQueue(),
          edge: slowEdge,
          now,
          newId: () => `${worker}-${++ids}`,
          viaProxy: false,
          batchSize: 3,
          leaseMs: 500,
        });
        const first = deliverBacklog(aor, deps('first', store));
        const second: string[] = [];
        for (let attempt = 0; attempt < 12; attempt++) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          second.push((await deliverBacklog(aor, deps('second', stores.other))).outcome);
        }
        await expect(first).resolves.toMatchObject({ outcome: 'done', delivered: 6 });
        expect(sent).toEqual(messages.map((m) => m.id)); // each once, oldest first
        expect(second.every((outcome) => outcome === 'busy' || outcome === 'done')).toBe(true);
        expect(await listAll(aor)).toEqual([]);
      }, 30_000);
    });

    describe('expiry: due index, claims, vacation', () => {
      it('lists what is due in the index (over all shards), not what is not, nor dead letters', async () => {
        const aor = uniqueUser();
        const due = heldMessage(aor, { expiresAt: new Date(now() - 60_000).toISOString() });
        const later = heldMessage(aor, { expiresAt: new Date(now() + 3_600_000).toISOString() });
        await holdAll([due, later]);
        const entries = (await allDue(new Date(now()).toISOString())).filter((e) => e.recipient === aor);
        expect(entries.map((e) => [e.id, e.state, e.expiresAt, e.receivedAt])).toEqual([
          [due.id, 'pending', due.expiresAt, due.receivedAt],
        ]);
        const soon = (await allDue(new Date(now() + 2 * 3_600_000).toISOString())).filter(
          (e) => e.recipient === aor,
        );
        expect(soon.map((e) => e.id).sort()).toEqual([due.id, later.id].sort());
        let earliest: string | undefined;
        for (let shard = 0; shard < stores.shards; shard++) {
          const first = await store.earliestExpiry(shard);
          if (first !== undefined && (earliest === undefined || first < earliest)) earliest = first;
        }
        expect(earliest).toBeDefined();
        expect((earliest ?? '') <= due.expiresAt).toBe(true);
      });

      it('claims pending → expiring once; a stale claim again; a message in flight only once its run’s lease lapsed', async () => {
        const aor = uniqueUser();
        const pending = heldMessage(aor, { expiresAt: new Date(now() - 60_000).toISOString() });
        const inFlight = heldMessage(aor, { expiresAt: new Date(now() - 60_000).toISOString() });
        const abandoned = heldMessage(aor, { expiresAt: new Date(now() - 2 * 3_600_000).toISOString() });
        await holdAll([pending, inFlight, abandoned]);
        await store.acquireLease(aor, 'run', 60_000);
        await store.markDelivering([inFlight, abandoned], 'run');
        const t = now();
        const stale = t - 1_800_000;
        // the entries as the index gave them (pending: a stale index), or as in flight
        const claimed = await store.claimForExpiry(
          [entryOf(pending), entryOf(inFlight), entryOf(abandoned, 'delivering')],
          t,
          stale,
        );
        // under the run's live lease nothing it has in flight is expired from under it, however old
        expect(claimed.map((e) => e.id)).toEqual([pending.id]);
        expect(await states(aor)).toEqual([
          [pending.id, 'expiring'],
          [inFlight.id, 'delivering'],
          [abandoned.id, 'delivering'],
        ]);
        // once the lease lapsed (the run died), they are claimed like pending ones
        const lapsed = t + 61_000;
        const taken = await store.claimForExpiry(
          [entryOf(inFlight, 'delivering'), entryOf(abandoned, 'delivering')],
          lapsed,
          lapsed - 1_800_000,
        );
        expect(taken.map((e) => e.id).sort()).toEqual([inFlight.id, abandoned.id].sort());
        expect(await states(aor)).toEqual([
          [pending.id, 'expiring'],
          [inFlight.id, 'expiring'],
          [abandoned.id, 'expiring'],
        ]);
        expect((await listAll(aor)).find((m) => m.id === abandoned.id)?.owner).toBeUndefined();
        // claimed: delivery can no longer take it, and a second sweep does not claim it again…
        await expect(store.markDelivering([pending], 'run')).resolves.toEqual([]);
        const [entry] = (await allDue(new Date(t).toISOString())).filter((e) => e.id === pending.id);
        expect(entry).toMatchObject({ state: 'expiring', claimedAt: t });
        await expect(store.claimForExpiry([entry as ExpiryEntry], t + 1000, stale + 1000)).resolves.toEqual(
          [],
        );
        // …until its claim is stale (its email step died)
        await expect(
          store.claimForExpiry([entry as ExpiryEntry], t + 3_600_000, t + 1),
        ).resolves.toHaveLength(1);
      });

      it('of a sweep and a delivery run racing for a message, exactly one gets it', async () => {
        const aor = uniqueUser();
        const messages = Array.from({ length: 6 }, () =>
          heldMessage(aor, { expiresAt: new Date(now() - 1000).toISOString() }),
        );
        await holdAll(messages);
        await stores.other.acquireLease(aor, 'run', 60_000);
        const [claimed, marked] = await Promise.all([
          store.claimForExpiry(
            messages.map((m) => entryOf(m)),
            now(),
            now() - 1_800_000,
          ),
          stores.other.markDelivering(messages, 'run'),
        ]);
        expect(claimed.length + marked.length).toBe(6);
        const ids = new Set([...claimed.map((e) => e.id), ...marked.map((m) => m.id)]);
        expect(ids.size).toBe(6);
      });

      it('reads the claimed messages oldest first, removes only what is still expiring', async () => {
        const aor = uniqueUser();
        const messages = Array.from({ length: 3 }, () => heldMessage(aor));
        await holdAll(messages);
        const [a, b, c] = messages as [HeldMessage, HeldMessage, HeldMessage];
        expect((await store.waiting(aor)).map((e) => [e.id, e.state])).toEqual(
          messages.map((m) => [m.id, 'pending']),
        );
        await store.claimForExpiry([entryOf(c), entryOf(a)], now(), now() - 1_800_000);
        expect((await store.waiting(aor)).map((e) => [e.id, e.state])).toEqual([
          [a.id, 'expiring'],
          [b.id, 'pending'],
          [c.id, 'expiring'],
        ]);
        const claimed = await store.expiring(
          aor,
          [c, b, a].map(({ id, receivedAt }) => ({ id, receivedAt })),
        );
        expect(claimed.map((m) => m.id)).toEqual([a.id, c.id]);
        expect(Buffer.from(claimed[0]?.body ?? []).toString('utf8')).toBe('Grüße 🎉 <b>&</b>');
        await store.removeExpired([...claimed, b]); // b is pending: kept
        expect(await states(aor)).toEqual([[b.id, 'pending']]);
        expect((await store.getUser(aor)).held).toBe(1);
      });
    });

    describe('bounces and dead letters', () => {
      it('keeps a bounced message until its notice settles it: told → deleted, failed → dead letter', async () => {
        const aor = uniqueUser();
        const told = heldMessage(aor, { replyTo: 'sip:127.0.0.1:5070' });
        const failed = heldMessage(aor);
        await holdAll([told, failed]);
        await store.acquireLease(aor, 'run', 60_000);
        await store.markDelivering([told, failed], 'run');
        const bounce = { status: 404, reason: 'Not Found', at: now() };
        const bounced = await store.markBounced(
          [told, failed].map((message) => ({ message, bounce })),
          'delivering',
        );
        expect(bounced.map((m) => [m.id, m.state, m.bounce])).toEqual([
          [told.id, 'bounced', bounce],
          [failed.id, 'bounced', bounce],
        ]);
        // not twice, and not from another state
        await expect(store.markBounced([{ message: told, bounce }], 'delivering')).resolves.toEqual([]);
        await expect(store.markBounced([{ message: told, bounce }], 'expiring')).resolves.toEqual([]);
        expect((await listAll(aor)).map((m) => [m.state, m.bounce, m.owner])).toEqual([
          ['bounced', bounce, undefined],
          ['bounced', bounce, undefined],
        ]);
        expect((await store.getUser(aor)).held).toBe(2); // still held until settled
        expect(await store.deliverable(aor, 10)).toEqual([]);

        await expect(store.settleBounce(told, { told: true })).resolves.toBe('removed');
        await expect(store.settleBounce(told, { told: true })).resolves.toBe('absent');
        await expect(store.settleBounce(failed, { failed: 'the notice failed 4 times (408)' })).resolves.toBe(
          'dead',
        );
        await expect(store.settleBounce(failed, { told: true })).resolves.toBe('absent'); // dead stays dead
        await expect(store.settleBounce(failed, { failed: 'again' })).resolves.toBe('absent');
        expect((await store.getUser(aor)).held).toBe(0);
        expect(await store.waiting(aor)).toEqual([]);

        const dead = (await store.listDead({ limit: 1000 })).messages.find((m) => m.id === failed.id);
        expect(dead).toMatchObject({
          state: 'dead',
          sender: 'sip:alice@example.com',
          recipient: aor,
          bounce,
          dead: { reason: 'the notice failed 4 times (408)' },
        });
        expect(Buffer.from(dead?.body ?? []).toString('utf8')).toBe('Grüße 🎉 <b>&</b>');
        // a dead letter is out of the expiry index (no sweep takes it) and kept past its time
        expect(
          (await allDue('9999-01-01T00:00:00.000Z')).find((entry) => entry.id === failed.id),
        ).toBeUndefined();
        offset = 30 * DAY;
        expect((await store.listDead({ limit: 1000 })).messages.map((m) => m.id)).toContain(failed.id);
        offset = 0;
        await expect(store.purgeDead({ id: failed.id })).resolves.toBe(1);
        await expect(store.purgeDead({ id: failed.id })).resolves.toBe(0);
        expect(await listAll(aor)).toEqual([]);
      });

      it('bounces on expiry from expiring; re-claims a bounce whose notice never settled it', async () => {
        const aor = uniqueUser();
        const message = heldMessage(aor);
        await holdAll([message]);
        const entry = { recipient: aor, id: message.id, receivedAt: message.receivedAt, state: 'pending' };
        const nowMs = now();
        await expect(store.claimForExpiry([entry], nowMs, nowMs - 1_800_000)).resolves.toHaveLength(1);
        const bounce = { status: 0, reason: 'expired', at: nowMs };
        await expect(store.markBounced([{ message, bounce }], 'delivering')).resolves.toEqual([]);
        await expect(store.markBounced([{ message, bounce }], 'expiring')).resolves.toHaveLength(1);
        // a bounced message is not taken as if pending
        await expect(store.claimForExpiry([entry], nowMs + 1000, nowMs - 1_800_000)).resolves.toEqual([]);
        const bouncedEntry = { ...entry, state: 'bounced', claimedAt: nowMs };
        // a fresh bounce is not taken again…
        await expect(store.claimForExpiry([bouncedEntry], nowMs + 1000, nowMs - 1_800_000)).resolves.toEqual(
          [],
        );
        // …one left unsettled for longer than the claim timeout is, and stays bounced
        const later = nowMs + 3_600_000;
        await expect(store.claimForExpiry([bouncedEntry], later, later - 1_800_000)).resolves.toHaveLength(1);
        const [again] = await store.expiring(aor, [message]);
        expect(again).toMatchObject({ id: message.id, state: 'bounced', bounce });
        await store.removeExpired([message]); // bounced, not expiring: kept
        expect(await states(aor)).toEqual([[message.id, 'bounced']]);
      });

      it('pages through dead letters and purges them all', async () => {
        const aor = uniqueUser();
        const messages = Array.from({ length: 5 }, () => heldMessage(aor));
        await holdAll(messages);
        await store.acquireLease(aor, 'run', 60_000);
        await store.markDelivering(messages, 'run');
        const bounce = { status: 403, reason: 'Forbidden', at: now() };
        await store.markBounced(
          messages.map((message) => ({ message, bounce })),
          'delivering',
        );
        for (const message of messages) await store.settleBounce(message, { failed: 'refused' });
        const seen: string[] = [];
        let after: string | undefined;
        let pages = 0;
        do {
          const page = await store.listDead({ limit: 2, ...(after ? { after } : {}) });
          expect(page.messages.length).toBeLessThanOrEqual(2);
          seen.push(...page.messages.map((m) => m.id));
          after = page.next;
          pages++;
        } while (after !== undefined && pages < 1000);
        const ours = seen.filter((id) => messages.some((m) => m.id === id));
        expect(ours).toEqual(messages.map((m) => m.id));
        expect(new Set(seen).size).toBe(seen.length);
        expect(await store.purgeDead({ all: true })).toBeGreaterThanOrEqual(5);
        expect((await store.listDead({ limit: 1000 })).messages).toEqual([]);
        expect(await listAll(aor)).toEqual([]);
      });
    });

    describe('credentials, sessions and nonces', () => {
      const entryFor = (aor: string, password: string, admin = false) => {
        const user = aor.slice('sip:'.length, aor.indexOf('@'));
        return { aor, realm: 'example.com', ha1: ha1s(user, 'example.com', password), admin };
      };

      it('stores credentials, keeps createdAt on a change, removes them', async () => {
        const aor = uniqueUser();
        await expect(stores.credentials.getCredentials(aor)).resolves.toBeUndefined();
        const first = await stores.credentials.putCredentials(
          entryFor(aor, 'first password'),
          '2026-12-01T09:00:00.000Z',
        );
        expect(first).toEqual({
          ...entryFor(aor, 'first password'),
          createdAt: '2026-12-01T09:00:00.000Z',
          updatedAt: '2026-12-01T09:00:00.000Z',
        });
        await expect(stores.credentials.getCredentials(aor)).resolves.toEqual(first);
        const second = await stores.credentials.putCredentials(
          entryFor(aor, 'second password', true),
          '2026-12-01T10:00:00.000Z',
        );
        expect(second).toMatchObject({
          createdAt: first.createdAt,
          updatedAt: '2026-12-01T10:00:00.000Z',
          admin: true,
        });
        expect(second.ha1.MD5).not.toBe(first.ha1.MD5);
        await expect(stores.credentials.deleteCredentials(aor)).resolves.toBe(true);
        await expect(stores.credentials.getCredentials(aor)).resolves.toBeUndefined();
        await expect(stores.credentials.deleteCredentials(aor)).resolves.toBe(false);
      });

      it('lists users page by page, each once, never a hash', async () => {
        const aors = [1, 2, 3].map(() => uniqueUser());
        for (const aor of aors)
          await stores.credentials.putCredentials(
            entryFor(aor, 'list me please'),
            new Date(now()).toISOString(),
          );
        const seen: Array<Record<string, unknown>> = [];
        let after: string | undefined;
        let pages = 0;
        do {
          const page = await stores.credentials.listUsers({ limit: 2, ...(after ? { after } : {}) });
          expect(page.users.length).toBeLessThanOrEqual(2);
          seen.push(...(page.users as unknown as Array<Record<string, unknown>>));
          after = page.next;
          pages++;
        } while (after && pages < 1000);
        expect(seen.map((user) => user.aor)).toEqual(expect.arrayContaining(aors));
        expect(new Set(seen.map((user) => user.aor)).size).toBe(seen.length);
        for (const user of seen)
          expect(Object.keys(user).sort()).toEqual(['admin', 'aor', 'createdAt', 'updatedAt']);
      });

      it('replaces a sign-in record only if it is still what the attempt read: one of a burst wins', async () => {
        const bob = uniqueUser();
        const t = now();
        const first = { count: 1, nextAllowedMs: t };
        expect(await stores.sessions.claimAttempt(bob, undefined, first, t + 60_000, t)).toBe(true);
        expect(await stores.sessions.signInRecord(bob, t)).toEqual(first);
        expect(await stores.sessions.claimAttempt(bob, undefined, first, t + 60_000, t)).toBe(false);
        const wins = await Promise.all(
          Array.from({ length: 8 }, () =>
            stores.sessions.claimAttempt(bob, first, { count: 2, nextAllowedMs: t }, t + 60_000, t),
          ),
        );
        expect(wins.filter(Boolean)).toHaveLength(1);
        expect(await stores.sessions.signInRecord(uniqueUser(), t)).toBeUndefined();
        await stores.sessions.clearFailures(bob);
        expect(await stores.sessions.signInRecord(bob, t)).toBeUndefined();
      });

      it('forgets a sign-in record past its time; refuses a revoked token until its expiry', async () => {
        const bob = uniqueUser();
        const t = now();
        await stores.sessions.claimAttempt(bob, undefined, { count: 3, nextAllowedMs: t }, t + 10_000, t);
        const later = t + 20_000;
        expect(await stores.sessions.signInRecord(bob, later)).toBeUndefined();
        expect(
          await stores.sessions.claimAttempt(
            bob,
            undefined,
            { count: 1, nextAllowedMs: later },
            later + 10_000,
            later,
          ),
        ).toBe(true);
        const jti = ulid();
        expect(await stores.sessions.isRevoked(jti, t)).toBe(false);
        await stores.sessions.revoke(jti, t + 60_000);
        expect(await stores.sessions.isRevoked(jti, t)).toBe(true);
        expect(await stores.sessions.isRevoked(jti, t + 120_000)).toBe(false);
      });

      it('claims a nonce once, of concurrent claims one wins, and again once its window passed', async () => {
        const value = `n-${ulid()}`;
        await expect(stores.nonces.claim(value, now() + 10_000)).resolves.toBe(true);
        await expect(stores.nonces.claim(value, now() + 10_000)).resolves.toBe(false);
        const racing = `n-${ulid()}`;
        const results = await Promise.all(
          Array.from({ length: 10 }, () => stores.nonces.claim(racing, now() + 600_000)),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        offset = 20_000;
        await expect(stores.nonces.claim(value, now() + 10_000)).resolves.toBe(true);
      });
    });
  });
}
