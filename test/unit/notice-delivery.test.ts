// The bounce lifecycle (docs/design.md "Message lifecycle"): a bounced message is deleted only after
// its notice reached the sender (2xx), or becomes a dead letter once the notice failed for good.
import { describe, expect, it } from 'vitest';
import { emailExpired } from '../../functions/core/expiry.ts';
import type { HeldMessage } from '../../functions/core/held-message.ts';
import type { DeliveryJob } from '../../functions/core/jobs.ts';
import { sendNotice } from '../../functions/core/notice-delivery.ts';
import { bounceNoticeOf } from '../../functions/core/notices.ts';
import type { Edge, EdgeDelivery } from '../../functions/core/ports.ts';
import { RetryLaterError } from '../../functions/core/retry.ts';
import type { MessageToDeliver } from '../../shared/contract/delivery.ts';
import { MemoryQueue, MemoryStore } from '../fakes/memory-store.ts';

const NOW = Date.parse('2026-11-21T12:00:00Z');
const BOB = 'sip:bob@localhost';

class StatusEdge implements Edge {
  readonly sent: MessageToDeliver[] = [];
  constructor(private readonly statuses: Array<number | Error>) {}
  async deliver(request: { messages: MessageToDeliver[] }): Promise<EdgeDelivery> {
    const [message] = request.messages;
    if (message) this.sent.push(message);
    const next = this.statuses.shift() ?? 200;
    if (next instanceof Error) throw next;
    return {
      outcomes: message ? [{ id: message.id, status: next, reason: String(next) }] : [],
      complete: true,
    };
  }
}

function held(overrides: Partial<HeldMessage> = {}): HeldMessage {
  return {
    id: 'm1',
    recipient: BOB,
    sender: 'sip:alice@example.com',
    senderUri: 'sip:alice@example.com',
    replyTo: 'sip:127.0.0.1:5070',
    callId: 'c1',
    cseq: 1,
    contentType: 'text/plain;charset=UTF-8',
    body: Buffer.from('Lunch at noon?\nBring the slides.'),
    receivedAt: '2026-11-21T10:00:00.000000Z',
    expiresAt: '2026-11-21T11:00:00.000Z',
    state: 'expiring',
    ...overrides,
  };
}

/** bob@localhost has no mailbox: his expired message bounces, and stays bounced until told. */
async function bounced() {
  const store = new MemoryStore();
  store.now = () => NOW;
  const notices = new MemoryQueue();
  const message = held();
  store.messages.push(message);
  const mailer = { send: async () => Promise.reject(new Error('must not email')) };
  const result = await emailExpired(
    { recipient: BOB, reason: 'expired', messages: [{ id: message.id, receivedAt: message.receivedAt }] },
    { users: store, store, mailer, notices, now: () => NOW, newId: () => 'notice-1' },
  );
  expect(result).toEqual({ outcome: 'bounced', count: 1 });
  expect(store.messages.map((m) => m.state)).toEqual(['bounced']);
  const job = notices.jobs[0];
  if (job?.kind !== 'notice') throw new Error('no notice queued');
  return { store, job };
}

describe('bounce notices', () => {
  it('quotes the original text and names the message it settles', async () => {
    const { job } = await bounced();
    const text = Buffer.from(job.message.body, 'base64').toString('utf8');
    expect(text).toContain('expired');
    expect(text).toContain('has no mailbox');
    expect(text).toContain('> Lunch at noon?\n> Bring the slides.');
    expect(job.settles).toEqual({ recipient: BOB, receivedAt: '2026-11-21T10:00:00.000000Z', id: 'm1' });
    expect(job.message.to).toBe('sip:alice@example.com');
  });

  it('bounds the quote', () => {
    const long = held({ body: Buffer.from('x'.repeat(5000)) });
    const job = bounceNoticeOf(long, { status: 404, reason: 'Not Found', at: NOW }, 'n', NOW);
    const text = Buffer.from(job.message.body, 'base64').toString('utf8');
    expect(text.length).toBeLessThan(1300);
    expect(text).toContain('[…]');
  });

  it('deletes the bounced message once the sender’s UA answered 2xx', async () => {
    const { store, job } = await bounced();
    const edge = new StatusEdge([200]);
    await expect(sendNotice(job, 1, { edge, bounces: store, viaProxy: false })).resolves.toEqual({
      outcome: 'sent',
      status: 200,
      settled: 'removed',
    });
    expect(store.messages).toEqual([]);
  });

  it('keeps it through transient failures, then makes it a dead letter when the attempts run out', async () => {
    const { store, job } = await bounced();
    const edge = new StatusEdge([408, 503, new Error('edge down'), 408]);
    for (const attempt of [1, 2, 3]) {
      await expect(sendNotice(job, attempt, { edge, bounces: store, viaProxy: false })).rejects.toThrow(
        RetryLaterError,
      );
      expect(store.messages.map((m) => m.state)).toEqual(['bounced']);
    }
    const result = await sendNotice(job, 4, { edge, bounces: store, viaProxy: false });
    expect(result).toMatchObject({ outcome: 'failed', status: 408, settled: 'dead' });
    const dead = await store.listDead();
    expect(dead.messages.map((m) => [m.id, m.state, m.sender, m.recipient])).toEqual([
      ['m1', 'dead', 'sip:alice@example.com', BOB],
    ]);
    expect(Buffer.from(dead.messages[0]?.body ?? []).toString()).toContain('Lunch at noon?');
    expect(dead.messages[0]?.dead?.reason).toMatch(/failed 4 times/);
    expect((await store.getUser(BOB)).held).toBe(0); // a dead letter is not waiting for anyone
    await expect(store.purgeDead({ id: 'm1' })).resolves.toBe(1);
    expect(store.messages).toEqual([]);
  });

  it('makes it a dead letter at once when the notice is refused for good, or cannot be sent', async () => {
    const refused = await bounced();
    await expect(
      sendNotice(refused.job, 1, { edge: new StatusEdge([403]), bounces: refused.store, viaProxy: false }),
    ).resolves.toMatchObject({ outcome: 'failed', settled: 'dead' });
    const nowhere = await bounced();
    const { target: _target, ...untargeted } = nowhere.job;
    const edge = new StatusEdge([]);
    await expect(
      sendNotice(untargeted as DeliveryJob & { kind: 'notice' }, 1, {
        edge,
        bounces: nowhere.store,
        viaProxy: false,
      }),
    ).resolves.toMatchObject({ outcome: 'failed', settled: 'dead' });
    expect(edge.sent).toEqual([]);
  });

  it('a notice that is not a bounce settles nothing', async () => {
    const store = new MemoryStore();
    const job: DeliveryJob & { kind: 'notice' } = {
      kind: 'notice',
      reason: 'auto-reply',
      target: 'sip:127.0.0.1:5070',
      message: {
        id: 'n',
        from: BOB,
        to: 'sip:alice@example.com',
        contentType: 'text/plain',
        body: '',
        date: '',
        callId: 'n@holdover',
      },
    };
    await expect(
      sendNotice(job, 9, { edge: new StatusEdge([408]), bounces: store, viaProxy: false }),
    ).resolves.toEqual(expect.objectContaining({ outcome: 'failed' }));
  });
});
