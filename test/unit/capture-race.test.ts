// Capture and presence racing (docs/design.md "Message lifecycle"), and the capture deadline: a
// MESSAGE the edge answers 503 is not stored.
import { describe, expect, it } from 'vitest';
import { type CaptureDeps, type CapturedMessage, captureMessage } from '../../functions/core/capture.ts';
import type { HeldMessage } from '../../functions/core/held-message.ts';
import type { HoldGuard, HoldOptions, HoldOutcome } from '../../functions/core/ports.ts';
import { summaryOf, updatePresence } from '../../functions/core/presence.ts';
import { DeadlineExceededError } from '../../shared/errors.ts';
import { MemoryQueue, MemoryStore } from '../fakes/memory-store.ts';

const NOW = Date.parse('2026-11-21T12:00:00Z');
const BOB = 'sip:bob@example.com';

function setup() {
  const store = new MemoryStore();
  store.now = () => NOW;
  const queue = new MemoryQueue();
  let sequence = 0;
  const followUpErrors: unknown[] = [];
  const deps: CaptureDeps = {
    store,
    users: store,
    queue,
    policy: {
      domains: new Set(['example.com']),
      defaultExpireAfterMs: 3_600_000,
      maxBodyBytes: 65_536,
      quota: 10,
    },
    now: () => NOW,
    newId: () => `id-${++sequence}`,
    onFollowUpError: (error) => followUpErrors.push(error),
  };
  return { store, queue, deps, followUpErrors };
}

const message = (overrides: Partial<CapturedMessage> = {}): CapturedMessage => ({
  callId: 'call-1@client',
  cseq: 1,
  from: 'sip:alice@example.com',
  to: BOB,
  contentType: 'text/plain',
  body: Buffer.from('hello'),
  ...overrides,
});

const register = {
  aor: BOB,
  state: 'online' as const,
  contact: 'sip:bob@127.0.0.1:5072',
  expires: 600,
  source: 'register' as const,
};

describe('capture racing a presence change', () => {
  it('starts the run when the REGISTER lands while the message is being written (capture sees it)', async () => {
    const { store, queue, deps } = setup();
    // the REGISTER's write lands between capture's first read and its write: capture's first
    // read said offline, its read after the write sees online
    const hold = store.hold.bind(store);
    store.hold = async (held: HeldMessage, guard: HoldGuard, options?: HoldOptions): Promise<HoldOutcome> => {
      const result = await updatePresence(register, { users: store, queue, now: () => NOW });
      expect(result.delivery).toBe('none'); // nothing held yet when presence looked
      return hold(held, guard, options);
    };
    await captureMessage(message(), deps);
    expect(queue.jobs).toEqual([{ kind: 'deliver', recipient: BOB }]);
  });

  it('starts the run when the message lands while presence is being written (presence sees it)', async () => {
    const { store, queue, deps } = setup();
    const putPresence = store.putPresence.bind(store);
    store.putPresence = async (aor, presence, version) => {
      // the capture runs completely between presence's read and its write: it sees offline
      await captureMessage(message(), deps);
      expect(queue.jobs).toEqual([]);
      return putPresence(aor, presence, version);
    };
    const result = await updatePresence(register, { users: store, queue, now: () => NOW });
    expect(result.delivery).toBe('queued');
    expect(queue.jobs).toEqual([{ kind: 'deliver', recipient: BOB }]);
  });

  it('with a store that reads presence with its quota count (DynamoDB), uses what it read: no second read', async () => {
    for (const landsFirst of ['register', 'none'] as const) {
      const { store, queue, deps } = setup();
      const hold = store.hold.bind(store);
      store.hold = async (held, guard, options) => {
        if (landsFirst === 'register')
          await updatePresence(register, { users: store, queue, now: () => NOW });
        const outcome = await hold(held, guard, options);
        const presence = store.presence.get(held.recipient);
        return outcome.outcome === 'held'
          ? { ...outcome, after: presence ? { presence: summaryOf(presence) } : {} }
          : outcome;
      };
      let reads = 0;
      const getUser = store.getUser.bind(store);
      store.getUser = (aor, options) => {
        reads++;
        return getUser(aor, options);
      };
      await captureMessage(message(), deps);
      expect(reads, landsFirst).toBe(landsFirst === 'register' ? 3 : 1); // updatePresence reads twice
      expect(queue.jobs, landsFirst).toEqual(
        landsFirst === 'register' ? [{ kind: 'deliver', recipient: BOB }] : [],
      );
    }
  });

  it('answers 202 for a stored message even if queueing its run fails', async () => {
    const { store, queue, deps, followUpErrors } = setup();
    await updatePresence(register, { users: store, queue, now: () => NOW });
    queue.enqueue = async () => Promise.reject(new Error('queue down'));
    await expect(captureMessage(message(), deps)).resolves.toMatchObject({ status: 'held' });
    expect(followUpErrors).toHaveLength(1);
    expect(store.messages).toHaveLength(1);
  });
});

describe('the capture deadline', () => {
  it('stores nothing once the edge stopped waiting', async () => {
    const { store, deps } = setup();
    await expect(captureMessage(message({ deadline: NOW - 1 }), deps)).rejects.toThrow(DeadlineExceededError);
    expect(store.messages).toHaveLength(0);
  });

  it('passes the deadline to the store write, and a resend after a late write is a duplicate', async () => {
    const { store, deps } = setup();
    const seen: Array<number | undefined> = [];
    const hold = store.hold.bind(store);
    let stall = true;
    store.hold = async (held, guard, options) => {
      seen.push(options?.deadline);
      const outcome = await hold(held, guard, options); // lands…
      if (stall) {
        stall = false;
        throw new Error('aborted at the deadline'); // …but the answer came too late
      }
      return outcome;
    };
    await expect(captureMessage(message({ deadline: NOW + 8000 }), deps)).rejects.toThrow('aborted');
    expect(seen).toEqual([NOW + 8000]);
    // the sender was answered 503 and sends the same MESSAGE again (same Call-ID and CSeq)
    await expect(captureMessage(message({ deadline: NOW + 8000 }), deps)).resolves.toMatchObject({
      status: 'duplicate',
      id: 'id-1',
    });
    expect(store.messages).toHaveLength(1);
  });

  it('does not let a hanging follow-up delay the answer past the deadline', async () => {
    const { store, queue, deps } = setup();
    await updatePresence(register, { users: store, queue, now: () => NOW });
    queue.enqueue = () => new Promise(() => undefined); // never settles
    const started = Date.now();
    const result = await captureMessage(message({ deadline: NOW + 50 }), deps);
    expect(result.status).toBe('held');
    expect(Date.now() - started).toBeLessThan(3000); // deadline + 1 s grace, not forever
  });
});
