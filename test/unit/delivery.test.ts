import { describe, expect, it } from 'vitest';
import { type DeliveryDeps, deliverBacklog } from '../../functions/core/delivery.ts';
import type { HeldMessage } from '../../functions/core/held-message.ts';
import type { Edge, EdgeDelivery } from '../../functions/core/ports.ts';
import { RetryLaterError } from '../../functions/core/retry.ts';
import type { DeliveryOutcome, MessageToDeliver } from '../../shared/contract/delivery.ts';
import { MemoryQueue, MemoryStore } from '../fakes/memory-store.ts';

const NOW = Date.parse('2026-11-21T12:00:00Z');
const BOB = 'sip:bob@example.com';

/** 408, 480 and 5xx end a batch at the edge (edge/delivery.ts endsBatch). */
const endsBatch = (status: number) => status === 408 || status === 480 || (status >= 500 && status < 600);

/**
 * A fake edge whose UA answers by a script: one status per message, 200 when the script runs out.
 * As the edge does (edge/delivery.ts), batches for a recipient go one after another in the order
 * of the calls, a batch queued behind one that stopped is not sent, and once it went away every
 * later call fails.
 */
class ScriptedEdge implements Edge {
  readonly sent: MessageToDeliver[] = [];
  readonly calls: Array<{ target?: string; count: number }> = [];
  dieAfter: number | undefined;
  private gone = false;
  private chain: Promise<boolean> = Promise.resolve(false);
  constructor(private readonly script: number[] = []) {}
  deliver(
    request: { recipient: string; target?: string; messages: MessageToDeliver[] },
    events: { accepted?: () => void } = {},
  ): Promise<EdgeDelivery> {
    this.calls.push({
      ...(request.target ? { target: request.target } : {}),
      count: request.messages.length,
    });
    if (this.gone) return Promise.reject(new Error('edge unreachable'));
    events.accepted?.();
    const batch = this.chain.then((stopped) => this.send(request.messages, stopped));
    this.chain = batch.then(
      ({ outcomes }) => endsBatch(outcomes.at(-1)?.status ?? 0),
      () => true,
    );
    return batch;
  }
  private async send(messages: MessageToDeliver[], stopped: boolean): Promise<EdgeDelivery> {
    if (this.gone) throw new Error('edge unreachable');
    if (stopped) return { outcomes: [], complete: true };
    const outcomes: DeliveryOutcome[] = [];
    for (const message of messages) {
      const status = this.script.shift() ?? 200;
      this.sent.push(message);
      outcomes.push({ id: message.id, status, reason: String(status) });
      if (endsBatch(status)) break;
      if (this.dieAfter !== undefined && this.sent.length >= this.dieAfter) {
        this.gone = true;
        return { outcomes, complete: false };
      }
    }
    return { outcomes, complete: true };
  }
}

function setup(script: number[] = [], count = 3) {
  const store = new MemoryStore();
  store.now = () => NOW;
  const queue = new MemoryQueue();
  const edge = new ScriptedEdge(script);
  store.presence.set(BOB, {
    registration: { contact: 'sip:bob@127.0.0.1:5072', expiresAt: '2026-11-21T13:00:00Z' },
    version: 1,
    updatedAt: '2026-11-21T11:00:00Z',
  });
  for (let i = 1; i <= count; i++) store.messages.push(held(i));
  let ids = 0;
  const deps: DeliveryDeps = {
    users: store,
    store,
    queue,
    edge,
    now: () => NOW,
    newId: () => `new-${++ids}`,
    viaProxy: false,
    batchSize: 2,
    leaseMs: 60_000,
  };
  return { store, queue, edge, deps };
}

function held(n: number, overrides: Partial<HeldMessage> = {}): HeldMessage {
  return {
    id: `m${String(n).padStart(3, '0')}`,
    recipient: BOB,
    sender: 'sip:alice@example.com',
    senderUri: 'sip:alice@example.com;transport=tcp',
    senderName: 'Alice',
    replyTo: 'sip:127.0.0.1:5070',
    callId: `c${n}`,
    cseq: 1,
    contentType: 'text/plain',
    body: Buffer.from(`message ${n}`),
    receivedAt: `2026-11-21T10:00:0${n}.000Z`,
    expiresAt: '2026-11-24T10:00:00.000Z',
    state: 'pending',
    ...overrides,
  };
}

describe('deliverBacklog', () => {
  it('delivers everything oldest first in batches, from the original sender, to the contact', async () => {
    const { store, edge, deps } = setup([], 5);
    await expect(deliverBacklog(BOB, deps)).resolves.toEqual({ outcome: 'done', delivered: 5 });
    expect(edge.sent.map((m) => m.id)).toEqual(['m001', 'm002', 'm003', 'm004', 'm005']);
    expect(edge.calls).toEqual([
      { target: 'sip:bob@127.0.0.1:5072', count: 2 },
      { target: 'sip:bob@127.0.0.1:5072', count: 2 },
      { target: 'sip:bob@127.0.0.1:5072', count: 1 },
    ]);
    expect(edge.sent[0]).toMatchObject({
      from: 'sip:alice@example.com;transport=tcp',
      fromName: 'Alice',
      to: BOB,
      date: '2026-11-21T10:00:01.000Z',
      callId: 'm001@holdover',
    });
    expect(Buffer.from(edge.sent[0]?.body ?? '', 'base64').toString()).toBe('message 1');
    expect(store.messages).toHaveLength(0);
    expect(store.leases.size).toBe(0);
  });

  it('hands the next batch to the edge while one is being sent, never more than two at once', async () => {
    const { edge, deps } = setup([], 7);
    let open = 0;
    let most = 0;
    const slow: Edge = {
      deliver: async (request, events) => {
        open++;
        most = Math.max(most, open);
        try {
          await new Promise((resolve) => setTimeout(resolve, 5));
          return await edge.deliver(request, events);
        } finally {
          open--;
        }
      },
    };
    await expect(deliverBacklog(BOB, { ...deps, edge: slow })).resolves.toEqual({
      outcome: 'done',
      delivered: 7,
    });
    expect(most).toBe(2);
    expect(edge.sent.map((m) => m.id)).toEqual(['m001', 'm002', 'm003', 'm004', 'm005', 'm006', 'm007']);
  });

  it('hands the next batch over only once the edge took the one before: a failed call is not overtaken', async () => {
    const { store, edge, deps } = setup([], 6);
    let calls = 0;
    const flaky: Edge = {
      deliver: async (request, events) => {
        // the first call fails on the way (a reset connection), slowly; later calls would go through
        if (++calls === 1) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          throw new Error('socket hang up');
        }
        return edge.deliver(request, events);
      },
    };
    await expect(deliverBacklog(BOB, { ...deps, edge: flaky })).rejects.toThrow(RetryLaterError);
    expect(edge.sent).toEqual([]);
    expect(calls).toBe(1);
    expect(store.messages.every((m) => m.state === 'pending')).toBe(true);
    await expect(deliverBacklog(BOB, deps)).resolves.toMatchObject({ outcome: 'done', delivered: 6 });
    expect(edge.sent.map((m) => m.id)).toEqual(['m001', 'm002', 'm003', 'm004', 'm005', 'm006']);
  });

  it('stops at 480, keeps the rest pending in order, and leaves presence alone', async () => {
    const { store, edge, deps } = setup([200, 480], 4);
    await expect(deliverBacklog(BOB, deps)).resolves.toEqual({
      outcome: 'unreachable',
      delivered: 1,
      status: 480,
    });
    expect(edge.sent.map((m) => m.id)).toEqual(['m001', 'm002']);
    expect(store.messages.map((m) => [m.id, m.state])).toEqual([
      ['m002', 'pending'],
      ['m003', 'pending'],
      ['m004', 'pending'],
    ]);
    // presence comes from REGISTER/PUBLISH only: a UA that dropped a re-sent duplicate (408) is
    // not marked away; the job is retried with backoff (functions/deliver.ts)
    expect(store.presence.get(BOB)?.version).toBe(1);
    await expect(deliverBacklog(BOB, deps)).resolves.toMatchObject({ outcome: 'done', delivered: 3 });
  });

  it('keeps messages and asks for a retry on 5xx', async () => {
    const { store, deps } = setup([503]);
    await expect(deliverBacklog(BOB, deps)).rejects.toThrow(RetryLaterError);
    expect(store.messages.every((m) => m.state === 'pending')).toBe(true);
    expect(store.leases.size).toBe(0);
  });

  it('bounces a permanently refused message to its sender and goes on', async () => {
    const { store, queue, edge, deps } = setup([200, 415, 200]);
    await expect(deliverBacklog(BOB, deps)).resolves.toEqual({ outcome: 'done', delivered: 2 });
    expect(edge.sent).toHaveLength(3);
    // kept, bounced, until its notice settles it
    expect(store.messages.map((m) => [m.id, m.state, m.bounce?.status])).toEqual([['m002', 'bounced', 415]]);
    expect(queue.jobs).toHaveLength(1);
    const [bounce] = queue.jobs;
    expect(bounce?.kind === 'notice' && bounce.reason).toBe('bounce');
    expect(bounce?.kind === 'notice' && bounce.target).toBe('sip:127.0.0.1:5070');
    expect(bounce?.kind === 'notice' && bounce.message.to).toBe('sip:alice@example.com');
    expect(bounce?.kind === 'notice' && bounce.settles).toEqual({
      recipient: BOB,
      receivedAt: '2026-11-21T10:00:02.000Z',
      id: 'm002',
    });
    const text = bounce?.kind === 'notice' ? Buffer.from(bounce.message.body, 'base64').toString() : '';
    expect(text).toMatch(/could not be delivered \(415/);
    expect(text).toContain('> message 2'); // the original text, quoted
  });

  it('a message the edge cannot send (606) is bounced alone to its tel: sender; the ones behind it are delivered', async () => {
    const { store, queue, edge, deps } = setup([200, 606, 200, 200], 0);
    store.messages.push(
      held(1),
      held(2, { sender: 'tel:+15551234', senderUri: 'tel:+15551234', replyTo: 'sip:127.0.0.1:5071' }),
      held(3),
      held(4),
    );
    await expect(deliverBacklog(BOB, deps)).resolves.toMatchObject({ outcome: 'done', delivered: 3 });
    expect(edge.sent.map((m) => [m.id, m.from])).toEqual([
      ['m001', 'sip:alice@example.com;transport=tcp'],
      ['m002', 'tel:+15551234'],
      ['m003', 'sip:alice@example.com;transport=tcp'],
      ['m004', 'sip:alice@example.com;transport=tcp'],
    ]);
    const bounces = queue.jobs.filter((job) => job.kind === 'notice' && job.reason === 'bounce');
    expect(bounces).toHaveLength(1);
    expect(bounces[0]?.kind === 'notice' && bounces[0].message.to).toBe('tel:+15551234');
    expect(bounces[0]?.kind === 'notice' && bounces[0].target).toBe('sip:127.0.0.1:5071');
    expect(store.messages.filter((m) => m.state === 'pending' || m.state === 'delivering')).toHaveLength(0);
  });

  it('sends an IMDN delivery notification when the sender asked for one', async () => {
    const { store, queue, deps } = setup([], 0);
    store.messages.push(
      held(1, { cpim: { imdnMessageId: 'imdn-1', imdnDisposition: 'positive-delivery' } }),
      held(2),
    );
    await deliverBacklog(BOB, deps);
    expect(queue.jobs).toHaveLength(1);
    const [notice] = queue.jobs;
    expect(notice?.kind === 'notice' && notice.reason).toBe('imdn');
    const body = notice?.kind === 'notice' ? Buffer.from(notice.message.body, 'base64').toString() : '';
    expect(body).toContain('<message-id>imdn-1</message-id>');
    expect(body).toContain('<delivered/>');
    expect(notice?.kind === 'notice' && notice.message.contentType).toBe('message/cpim');
  });

  it('does nothing while the user is in a holding state, or while another worker holds the lease', async () => {
    const { store, edge, deps } = setup();
    store.presence.set(BOB, {
      ...(store.presence.get(BOB) ?? { version: 1, updatedAt: '' }),
      published: 'dnd',
    });
    await expect(deliverBacklog(BOB, deps)).resolves.toMatchObject({ outcome: 'held', state: 'dnd' });
    store.presence.delete(BOB);
    store.presence.set(BOB, {
      registration: { contact: 'sip:x@y', expiresAt: '2027-01-01T00:00:00Z' },
      version: 5,
      updatedAt: '',
    });
    await store.acquireLease(BOB, 'someone-else', 60_000);
    await expect(deliverBacklog(BOB, deps)).resolves.toEqual({ outcome: 'busy' });
    // nor can a run without the lease mark a message
    await expect(store.markDelivering([held(1)], 'not-the-holder')).rejects.toThrow('lease');
    expect(edge.sent).toHaveLength(0);
  });

  it('retries a message a crashed run left in delivering, and skips one taken by expiry', async () => {
    const { store, edge, deps } = setup([], 0);
    store.messages.push(held(1, { state: 'delivering' }), held(2, { state: 'expiring' }), held(3));
    await deliverBacklog(BOB, deps);
    expect(edge.sent.map((m) => m.id)).toEqual(['m001', 'm003']);
    expect(store.messages.map((m) => m.id)).toEqual(['m002']);
  });

  it('does not send without a contact unless an outbound proxy routes it', async () => {
    const { store, edge, deps } = setup([], 1);
    store.presence.set(BOB, { published: 'online' as never, version: 1, updatedAt: '' });
    store.presence.delete(BOB);
    store.presence.set(BOB, { version: 1, updatedAt: '' });
    // offline without registration: held
    await expect(deliverBacklog(BOB, deps)).resolves.toMatchObject({ outcome: 'held' });
    // a webhook said online; no contact, but a proxy routes by AOR
    store.presence.set(BOB, { version: 2, updatedAt: '' });
    const viaProxy = { ...deps, viaProxy: true };
    store.settings.set(BOB, { hold: ['busy'] });
    await expect(deliverBacklog(BOB, viaProxy)).resolves.toEqual({ outcome: 'done', delivered: 1 });
    expect(edge.calls[0]?.target).toBeUndefined();
  });

  it('keeps what the edge reported before it went away, and retries only the rest', async () => {
    const { store, edge, deps } = setup([], 5);
    edge.dieAfter = 1;
    await expect(deliverBacklog(BOB, deps)).rejects.toThrow(RetryLaterError);
    expect(store.messages.map((m) => [m.id, m.state])).toEqual([
      ['m002', 'pending'],
      ['m003', 'pending'],
      ['m004', 'pending'],
      ['m005', 'pending'],
    ]);
  });

  it('looks again after releasing the lease: a message captured meanwhile starts a new run', async () => {
    const { store, queue, deps } = setup([], 1);
    const release = store.releaseLease.bind(store);
    store.releaseLease = async (recipient, owner) => {
      // captured after the run's last look; its own capture found the lease held (busy)
      store.messages.push(held(9));
      return release(recipient, owner);
    };
    await expect(deliverBacklog(BOB, deps)).resolves.toEqual({
      outcome: 'done',
      delivered: 1,
      requeued: true,
    });
    expect(queue.jobs).toEqual([{ kind: 'deliver', recipient: BOB }]);
  });

  it('does not look again after the UA stopped the run (408), so it cannot loop', async () => {
    const { queue, deps } = setup([408], 2);
    await expect(deliverBacklog(BOB, deps)).resolves.toMatchObject({ outcome: 'unreachable', status: 408 });
    expect(queue.jobs).toEqual([]);
  });

  it('renews the lease while a slow batch is in flight, so a second worker never takes it over', async () => {
    const { store, deps } = setup([], 4);
    store.now = Date.now;
    // on the real clock (the lease's timing), so the messages must not be past their time (TTL)
    for (const message of store.messages) message.expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    store.presence.set(BOB, {
      registration: { contact: 'sip:bob@127.0.0.1:5072', expiresAt: '2099-01-01T00:00:00Z' },
      version: 1,
      updatedAt: '',
    });
    const slow: Edge = {
      async deliver(request) {
        await new Promise((resolve) => setTimeout(resolve, 250)); // > 2 lease lifetimes
        return {
          outcomes: request.messages.map((m) => ({ id: m.id, status: 200, reason: 'OK' })),
          complete: true,
        };
      },
    };
    const sent: string[] = [];
    const counting: Edge = {
      deliver: async (request) => {
        sent.push(...request.messages.map((m) => m.id));
        return slow.deliver(request);
      },
    };
    const fast = { ...deps, edge: counting, now: Date.now, leaseMs: 100, heartbeatMs: 30 };
    const first = deliverBacklog(BOB, fast);
    const others: Array<Awaited<ReturnType<typeof deliverBacklog>>> = [];
    for (let i = 0; i < 8; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      others.push(await deliverBacklog(BOB, fast));
    }
    await expect(first).resolves.toMatchObject({ outcome: 'done', delivered: 4 });
    expect(sent).toEqual(['m001', 'm002', 'm003', 'm004']); // each once, in order
    expect(others.filter((run) => run.outcome !== 'busy' && run.outcome !== 'done')).toEqual([]);
  });
});
