// The message lifecycle as a state machine (docs/design.md "Message lifecycle"),
// checked against the in-memory store: any interleaving of captures, presence changes, delivery
// outcomes (2xx/408/480/5xx/4xx/6xx), sweeps, email outcomes, notice outcomes and crashes (a
// run dying between two steps) ends every accepted message in exactly one of delivered /
// emailed / bounced-and-told / dead, and never both delivered and emailed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CaptureDeps, captureMessage } from '../../functions/core/capture.ts';
import type { DeliveryDeps } from '../../functions/core/delivery.ts';
import { runDeliveryJob } from '../../functions/core/delivery-jobs.ts';
import { type ExpiryJob, emailExpired, sweepDue } from '../../functions/core/expiry.ts';
import type { HeldMessage, MessageRef } from '../../functions/core/held-message.ts';
import type { DeliveryJob } from '../../functions/core/jobs.ts';
import type { Edge, EdgeDelivery } from '../../functions/core/ports.ts';
import { updatePresence } from '../../functions/core/presence.ts';
import { RetryLaterError } from '../../functions/core/retry.ts';
import type { DeliveryOutcome } from '../../shared/contract/delivery.ts';
import type { PresenceUpdate } from '../../shared/contract/presence.ts';
import { MemoryStore } from '../fakes/memory-store.ts';

const T0 = Date.parse('2026-11-21T12:00:00Z');
const HOUR = 3_600_000;
const USERS = ['sip:u0@example.com', 'sip:u1@localhost', 'sip:u2@example.com'] as const;
const MAX_RECEIVES = 5; // the queues' maxReceiveCount (AWS default of the construct)
const VISIBILITY_MS = 180_000;

class Crash extends Error {}

/** An SQS queue, as far as the lifecycle cares: delays, visibility, receive counts, a DLQ. */
class ModelQueue<Job> {
  items: Array<{ job: Job; visibleAt: number; receives: number }> = [];
  readonly dlq: Job[] = [];
  constructor(private readonly clock: () => number) {}
  async enqueue(job: Job, delaySeconds = 0): Promise<void> {
    this.items.push({
      job: structuredClone(job),
      visibleAt: this.clock() + delaySeconds * 1000,
      receives: 0,
    });
  }
  /** Receives the oldest visible job; it stays invisible for the visibility timeout until deleted. */
  receive(): { item: { job: Job; visibleAt: number; receives: number }; done: () => void } | undefined {
    for (;;) {
      const item = this.items.find((candidate) => candidate.visibleAt <= this.clock());
      if (item === undefined) return undefined;
      if (item.receives >= MAX_RECEIVES) {
        this.items.splice(this.items.indexOf(item), 1);
        this.dlq.push(item.job);
        continue;
      }
      item.receives++;
      item.visibleAt = this.clock() + VISIBILITY_MS;
      return { item, done: () => this.items.splice(this.items.indexOf(item), 1) };
    }
  }
  retryLater(item: { receives: number; visibleAt: number }): void {
    item.visibleAt = this.clock() + Math.min(300, 5 * 2 ** Math.max(0, item.receives - 1)) * 1000;
  }
}

/** Records the store's terminal transitions, which the conditional writes make exclusive. */
class RecordingStore extends MemoryStore {
  readonly terminal = new Map<string, string[]>();
  private record(ids: string[], outcome: string) {
    for (const id of ids) this.terminal.set(id, [...(this.terminal.get(id) ?? []), outcome]);
  }
  private inState(messages: Array<{ id: string }>, state: string): string[] {
    return messages.filter((m) => this.messages.find((s) => s.id === m.id)?.state === state).map((m) => m.id);
  }
  override async removeDelivered(messages: HeldMessage[]): Promise<void> {
    const ids = this.inState(messages, 'delivering');
    await super.removeDelivered(messages);
    this.record(ids, 'delivered');
  }
  override async removeExpired(messages: HeldMessage[]): Promise<void> {
    const ids = this.inState(messages, 'expiring');
    await super.removeExpired(messages);
    this.record(ids, 'emailed');
  }
  override async settleBounce(ref: MessageRef, outcome: { told: true } | { failed: string }) {
    const result = await super.settleBounce(ref, outcome);
    if (result === 'removed') this.record([ref.id], 'told');
    if (result === 'dead') this.record([ref.id], 'dead');
    return result;
  }
}

/** After `steps` more calls, every call throws: the process died between two steps. */
function crashing<T extends object>(target: T, budget: { steps: number }): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (budget.steps-- <= 0) throw new Crash('crashed');
        return value.apply(object, args);
      };
    },
  });
}

type Op =
  | { op: 'capture'; user: number; replyTo: boolean }
  | { op: 'presence'; user: number; change: 'register' | 'unregister' | 'busy' | 'open' }
  | { op: 'deliveryJob'; crashAfter?: number }
  | { op: 'expiryJob'; crashAfter?: number }
  | { op: 'sweep'; crashAfter?: number }
  | { op: 'tick'; ms: number };

const crashAfter = fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined, freq: 3 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ op: fc.constant('capture' as const), user: fc.nat(2), replyTo: fc.boolean() }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('presence' as const),
      user: fc.nat(2),
      change: fc.constantFrom(
        'register' as const,
        'register' as const,
        'unregister' as const,
        'busy' as const,
        'open' as const,
      ),
    }),
  },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('deliveryJob' as const), crashAfter }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('expiryJob' as const), crashAfter }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('sweep' as const), crashAfter }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: 1000, max: 2 * HOUR }) }),
  },
);

const DELIVERY_STATUSES = [200, 200, 200, 202, 408, 480, 503, 404, 415, 606];
const NOTICE_STATUSES = [200, 200, 408, 503, 403, 0];

async function runProgram(
  ops: Op[],
  deliveryScript: number[],
  noticeScript: number[],
  mailScript: boolean[],
) {
  let clock = T0;
  const now = () => clock;
  const store = new RecordingStore();
  store.now = now;
  store.settings.set(USERS[2], { onExpire: 'bounce' });
  const deliveries = new ModelQueue<DeliveryJob>(now);
  const expired = new ModelQueue<ExpiryJob>(now);
  const uaAccepted = new Map<string, number>(); // held-message id → 2xx answers by the UA
  const mailed = new Set<string>();
  let ids = 0;
  const newId = () => `${String(++ids).padStart(6, '0')}`;
  const accepted: string[] = [];
  let crashed = false;

  const edge: Edge = {
    async deliver(request): Promise<EdgeDelivery> {
      const outcomes: DeliveryOutcome[] = [];
      for (const message of request.messages) {
        const notice = message.headers?.some((header) => header.name === 'Auto-Submitted') ?? false;
        const status = (notice ? noticeScript.shift() : deliveryScript.shift()) ?? 200;
        if (status === 0) throw new Error('edge unreachable');
        outcomes.push({ id: message.id, status, reason: String(status) });
        if (!notice && status >= 200 && status < 300)
          uaAccepted.set(message.id, (uaAccepted.get(message.id) ?? 0) + 1);
        if (status === 408 || status === 480 || status >= 500) break;
      }
      return { outcomes, complete: true };
    },
  };
  const mailer = {
    async send(mail: { to: string; text: string }): Promise<string> {
      if (mailScript.shift() === false) throw new Error('SES throttled');
      for (const match of mail.text.matchAll(/\[id (\d+)\]/g)) if (match[1]) mailed.add(match[1]);
      return `mail-${newId()}`;
    },
  };

  const captureDeps = (): CaptureDeps => ({
    store,
    users: store,
    queue: deliveries,
    policy: {
      domains: new Set(['example.com', 'localhost']),
      defaultExpireAfterMs: HOUR,
      maxBodyBytes: 65_536,
      quota: 1000,
    },
    now,
    newId: () => newId(),
  });
  const deliveryDeps = (budget?: { steps: number }): DeliveryDeps => ({
    users: budget ? crashing(store, budget) : store,
    store: budget ? crashing(store, budget) : store,
    queue: budget ? crashing(deliveries, budget) : deliveries,
    edge,
    now,
    newId,
    viaProxy: false,
    batchSize: 2,
    leaseMs: 120_000,
  });

  const step = async (op: Op) => {
    const budget = 'crashAfter' in op && op.crashAfter !== undefined ? { steps: op.crashAfter } : undefined;
    try {
      switch (op.op) {
        case 'capture': {
          const result = await captureMessage(
            {
              callId: `call-${newId()}`,
              cseq: 1,
              from: 'sip:alice@example.com',
              to: USERS[op.user] ?? USERS[0],
              contentType: 'text/plain',
              // the digest names each message by id, so the mailer can tell which were emailed
              body: Buffer.from(`[id ${String(ids + 1).padStart(6, '0')}] hello`),
              ...(op.replyTo ? { replyTo: 'sip:alice@127.0.0.1:5070' } : {}),
            },
            captureDeps(),
          );
          if (result.status === 'held') accepted.push(result.id);
          return;
        }
        case 'presence': {
          const aor = USERS[op.user] ?? USERS[0];
          const update: PresenceUpdate =
            op.change === 'register'
              ? {
                  aor,
                  state: 'online',
                  contact: `${aor}:5072`.replace('sip:', 'sip:ua-'),
                  expires: 3600,
                  source: 'register',
                }
              : op.change === 'unregister'
                ? { aor, state: 'offline', expires: 0, source: 'register' }
                : { aor, state: op.change === 'busy' ? 'busy' : 'online', source: 'publish' };
          await updatePresence(update, { users: store, queue: deliveries, now });
          return;
        }
        case 'deliveryJob': {
          const received = deliveries.receive();
          if (!received) return;
          const deps = deliveryDeps(budget);
          try {
            await runDeliveryJob(received.item.job, received.item.receives, deps);
            received.done();
          } catch (error) {
            if (error instanceof RetryLaterError) deliveries.retryLater(received.item);
            else throw error;
          }
          return;
        }
        case 'expiryJob': {
          const received = expired.receive();
          if (!received) return;
          try {
            await emailExpired(received.item.job, {
              users: store,
              store: budget ? crashing(store, budget) : store,
              mailer,
              notices: budget ? crashing(deliveries, budget) : deliveries,
              now,
              newId,
            });
            received.done();
          } catch (error) {
            if (error instanceof Crash) throw error;
            expired.retryLater(received.item); // mail refused: the job comes back
          }
          return;
        }
        case 'sweep':
          await sweepDue({
            store: budget ? crashing(store, budget) : store,
            queue: budget ? crashing(expired, budget) : expired,
            now,
            shards: 1,
            claimTimeoutMs: 30 * 60_000,
            jobSize: 200,
            intervalMs: 60_000,
          });
          return;
        case 'tick':
          clock += op.ms;
          return;
      }
    } catch (error) {
      if (!(error instanceof Crash)) throw error;
      crashed = true; // the job, if any, stays invisible until its visibility timeout
    }
  };

  for (const op of ops) await step(op);

  // Drain: no more faults; time goes on, the sweeper and the workers run until nothing is left.
  deliveryScript.length = 0;
  noticeScript.length = 0;
  mailScript.length = 0;
  for (let round = 0; round < 200; round++) {
    const open = store.messages.filter((m) => m.state !== 'dead');
    if (open.length === 0 && deliveries.items.length === 0 && expired.items.length === 0) break;
    clock += 5 * 60_000;
    await step({ op: 'sweep' });
    for (let job = 0; job < 50; job++) await step({ op: 'deliveryJob' });
    for (let job = 0; job < 50; job++) await step({ op: 'expiryJob' });
  }
  return { store, accepted, uaAccepted, mailed, crashed, deliveries, expired };
}

describe('message lifecycle (property)', () => {
  it('ends every accepted message in exactly one outcome, whatever the interleaving', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 1, maxLength: 40 }),
        fc.array(fc.constantFrom(...DELIVERY_STATUSES), { maxLength: 30 }),
        fc.array(fc.constantFrom(...NOTICE_STATUSES), { maxLength: 15 }),
        fc.array(fc.boolean(), { maxLength: 6 }),
        async (ops, deliveryScript, noticeScript, mailScript) => {
          const world = await runProgram(ops, [...deliveryScript], [...noticeScript], [...mailScript]);
          const { store, accepted } = world;
          if (world.crashed) seen.set('crashed runs', (seen.get('crashed runs') ?? 0) + 1);
          for (const outcomes of store.terminal.values())
            for (const outcome of outcomes) seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
          // nothing is left in flight: each message ended, or is a listed dead letter
          expect(store.messages.filter((m) => m.state !== 'dead').map((m) => [m.id, m.state])).toEqual([]);
          const dead = new Set((await store.listDead()).messages.map((m) => m.id));
          for (const id of accepted) {
            const outcomes = store.terminal.get(id) ?? [];
            expect({ id, outcomes }).toEqual({
              id,
              outcomes: [expect.stringMatching(/^(delivered|emailed|told|dead)$/)],
            });
            expect(dead.has(id)).toBe(outcomes[0] === 'dead');
            // never both delivered and emailed: what the UA took is not mailed, and the reverse
            const ua = world.uaAccepted.get(id) ?? 0;
            if (!world.crashed) {
              expect(world.mailed.has(id) && ua > 0).toBe(false);
              expect(outcomes[0] === 'delivered').toBe(ua > 0);
              expect(outcomes[0] === 'emailed').toBe(world.mailed.has(id));
            }
          }
        },
      ),
      { numRuns: 1500 },
    );
    // the programs reached every outcome, and crashes, so the property was not vacuous
    for (const outcome of ['delivered', 'emailed', 'told', 'dead', 'crashed runs'])
      expect(
        seen.get(outcome) ?? 0,
        `${outcome} never happened: ${JSON.stringify([...seen])}`,
      ).toBeGreaterThan(0);
  }, 120_000);
});

describe('nothing strands (property, scheduled interleavings)', () => {
  /** Every store and queue call takes effect only when the scheduler lets it: any interleaving. */
  function scheduled<T extends object>(target: T, s: fc.Scheduler): T {
    return new Proxy(target, {
      get(object, property, receiver) {
        const value = Reflect.get(object, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) =>
          s.schedule(Promise.resolve(String(property))).then(() => value.apply(object, args));
      },
    });
  }

  it('a capture racing a REGISTER, a PUBLISH open and a running delivery leaves a run queued for it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom('register' as const, 'publish-open' as const, 'already-online' as const),
        async (s, captures, race) => {
          const aor = USERS[0];
          const store = new MemoryStore();
          store.now = () => T0;
          const jobs: DeliveryJob[] = [];
          // a job put off (a busy recipient's, after the lease) is not a prompt run: left aside
          const later: DeliveryJob[] = [];
          const queue = {
            enqueue: async (job: DeliveryJob, delaySeconds?: number) =>
              void (delaySeconds ? later : jobs).push(job),
          };
          const delivered: string[] = [];
          const edge: Edge = {
            async deliver(request) {
              delivered.push(...request.messages.map((m) => m.id));
              return {
                outcomes: request.messages.map((m) => ({ id: m.id, status: 200, reason: 'OK' })),
                complete: true,
              };
            },
          };
          const registration = {
            contact: 'sip:ua@127.0.0.1:5072',
            expiresAt: new Date(T0 + HOUR).toISOString(),
          };
          if (race === 'publish-open')
            store.presence.set(aor, { registration, published: 'busy', version: 1, updatedAt: '' });
          if (race === 'already-online') {
            store.presence.set(aor, { registration, version: 1, updatedAt: '' });
            jobs.push({ kind: 'deliver', recipient: aor }); // a run about to start
          }
          let ids = 0;
          const newId = () => String(++ids).padStart(6, '0');
          const racingStore = scheduled(store, s);
          const racingQueue = scheduled(queue, s);
          const deliveryDeps: DeliveryDeps = {
            users: racingStore,
            store: racingStore,
            queue: racingQueue,
            edge,
            now: () => T0,
            newId,
            viaProxy: false,
            batchSize: 2,
            leaseMs: 120_000,
          };
          const accepted: string[] = [];
          const work: Array<Promise<unknown>> = [];
          for (let i = 0; i < captures; i++) {
            work.push(
              captureMessage(
                {
                  callId: `c${i}`,
                  cseq: 1,
                  from: 'sip:alice@example.com',
                  to: aor,
                  contentType: 'text/plain',
                  body: Buffer.from(`m${i}`),
                },
                {
                  store: racingStore,
                  users: racingStore,
                  queue: racingQueue,
                  policy: {
                    domains: new Set(['example.com']),
                    defaultExpireAfterMs: HOUR,
                    maxBodyBytes: 65_536,
                    quota: 100,
                  },
                  now: () => T0,
                  newId,
                },
              ).then((result) => result.status === 'held' && accepted.push(result.id)),
            );
          }
          if (race === 'register')
            work.push(
              updatePresence(
                { aor, state: 'online', contact: registration.contact, expires: 3600, source: 'register' },
                { users: racingStore, queue: racingQueue, now: () => T0 },
              ),
            );
          if (race === 'publish-open')
            work.push(
              updatePresence(
                { aor, state: 'online', source: 'publish' },
                { users: racingStore, queue: racingQueue, now: () => T0 },
              ),
            );
          // two workers take each job as it appears, while the captures and presence still run
          const worker = async () => {
            for (let taken = 0; taken < 20; taken++) {
              await s.schedule(Promise.resolve('worker'));
              const job = jobs.shift();
              if (job === undefined) {
                if (await Promise.race([Promise.all(work).then(() => true), Promise.resolve(false)])) return;
                continue;
              }
              await runDeliveryJob(job, 1, deliveryDeps);
            }
          };
          await s.waitFor(Promise.all([...work, worker(), worker()]));
          // Quiet now: only the jobs queued for now run (within seconds). None may be missing.
          for (let round = 0; round < 10 && jobs.length > 0; round++) {
            const job = jobs.shift();
            if (job) await runDeliveryJob(job, 1, { ...deliveryDeps, users: store, store, queue });
          }
          expect(store.messages.map((m) => [m.id, m.state])).toEqual([]);
          expect([...new Set(delivered)].sort()).toEqual([...accepted].sort());
        },
      ),
      { numRuns: 300 },
    );
  }, 120_000);
});
