import { describe, expect, it } from 'vitest';
import { type CaptureDeps, type CapturedMessage, captureMessage } from '../../functions/core/capture.ts';
import {
  ForeignDomainError,
  InvalidRequestError,
  QuotaExceededError,
  TooLargeError,
  UnsupportedMediaError,
} from '../../shared/errors.ts';
import { MemoryQueue, MemoryStore } from '../fakes/memory-store.ts';

const NOW = Date.parse('2026-11-21T12:00:00Z');

function setup(overrides: Partial<CaptureDeps['policy']> = {}) {
  const store = new MemoryStore();
  const queue = new MemoryQueue();
  let sequence = 0;
  const deps: CaptureDeps = {
    store,
    users: store,
    queue,
    policy: {
      domains: new Set(['example.com']),
      defaultExpireAfterMs: 72 * 3_600_000,
      maxBodyBytes: 65_536,
      quota: 1000,
      ...overrides,
    },
    now: () => NOW,
    newId: () => `id-${++sequence}`,
  };
  store.now = () => NOW;
  return { store, queue, deps };
}

const message = (overrides: Partial<CapturedMessage> = {}): CapturedMessage => ({
  callId: 'call-1@client',
  cseq: 1,
  from: 'sip:alice@example.com;transport=udp',
  fromName: 'Alice',
  to: 'sip:bob@Example.COM',
  contentType: 'text/plain;charset=UTF-8',
  body: Buffer.from('Hallo Bob, schöne Grüße 🎉', 'utf8'),
  ...overrides,
});

describe('captureMessage', () => {
  it('holds a message for the recipient AOR with the default expiry, body byte-exact', async () => {
    const { store, deps } = setup();
    const result = await captureMessage(message(), deps);
    expect(result).toEqual({ status: 'held', id: 'id-1', expiresAt: '2026-11-24T12:00:00.000Z' });
    const [held] = store.messages;
    expect(held?.recipient).toBe('sip:bob@example.com');
    expect(held?.sender).toBe('sip:alice@example.com');
    expect(held?.senderName).toBe('Alice');
    expect(held?.state).toBe('pending');
    expect(Buffer.from(held?.body ?? []).toString('utf8')).toBe('Hallo Bob, schöne Grüße 🎉');
  });

  it('answers a duplicate Call-ID+CSeq with the first result and stores once', async () => {
    const { store, deps } = setup();
    const first = await captureMessage(message(), deps);
    const second = await captureMessage(message({ body: Buffer.from('retransmitted') }), deps);
    expect(second).toEqual({ ...first, status: 'duplicate' });
    expect(store.messages).toHaveLength(1);
    const nextCSeq = await captureMessage(message({ cseq: 2 }), deps);
    expect(nextCSeq.status).toBe('held');
  });

  it('dedupes on the IMDN Message-ID across different Call-IDs', async () => {
    const { store, deps } = setup();
    const body = Buffer.from(
      'From: <sip:alice@example.com>\r\nNS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: m-77\r\n\r\nContent-Type: text/plain\r\n\r\nhi',
    );
    await captureMessage(message({ contentType: 'message/cpim', body }), deps);
    const again = await captureMessage(
      message({ callId: 'other-call', contentType: 'message/cpim', body }),
      deps,
    );
    expect(again.status).toBe('duplicate');
    expect(store.messages).toHaveLength(1);
    expect(store.messages[0]?.cpim?.imdnMessageId).toBe('m-77');
  });

  it('uses the user expiry setting, shortened by the MESSAGE Expires header', async () => {
    const { store, deps } = setup();
    store.settings.set('sip:bob@example.com', { expireAfter: '30m' });
    const fromSettings = await captureMessage(message(), deps);
    expect(fromSettings.status === 'held' && fromSettings.expiresAt).toBe('2026-11-21T12:30:00.000Z');
    const shortened = await captureMessage(message({ cseq: 2, expires: 60 }), deps);
    expect(shortened.status === 'held' && shortened.expiresAt).toBe('2026-11-21T12:01:00.000Z');
  });

  it('ignores is-composing indications without storing', async () => {
    const { store, deps } = setup();
    const result = await captureMessage(message({ contentType: 'application/im-iscomposing+xml' }), deps);
    expect(result.status).toBe('ignored');
    expect(store.messages).toHaveLength(0);
  });

  it.each([
    ['a foreign domain', message({ to: 'sip:bob@elsewhere.org' }), ForeignDomainError],
    ['a too large body', message({ body: Buffer.alloc(65_537, 0x61) }), TooLargeError],
    ['an unsupported type', message({ contentType: 'image/png' }), UnsupportedMediaError],
    ['an unsupported charset', message({ contentType: 'text/plain;charset=koi8-r' }), UnsupportedMediaError],
    ['invalid UTF-8', message({ body: Buffer.from([0xc3, 0x28]) }), UnsupportedMediaError],
    [
      'a CPIM body with invalid inner text',
      message({
        contentType: 'message/cpim',
        body: Buffer.from('From: a\r\n\r\nContent-Type: text/plain\r\n\r\n\xff', 'latin1'),
      }),
      UnsupportedMediaError,
    ],
    ['a recipient that is not a SIP AOR', message({ to: 'tel:+491234' }), InvalidRequestError],
  ])('refuses %s and stores nothing', async (_, input, errorClass) => {
    const { store, deps } = setup();
    await expect(captureMessage(input, deps)).rejects.toThrow(errorClass);
    expect(store.messages).toHaveLength(0);
  });

  it('refuses past the quota, per recipient', async () => {
    const { store, deps } = setup({ quota: 2 });
    await captureMessage(message({ cseq: 1 }), deps);
    await captureMessage(message({ cseq: 2 }), deps);
    await expect(captureMessage(message({ cseq: 3 }), deps)).rejects.toThrow(QuotaExceededError);
    await expect(
      captureMessage(message({ cseq: 4, to: 'sip:carol@example.com' }), deps),
    ).resolves.toMatchObject({
      status: 'held',
    });
    expect(store.messages).toHaveLength(3);
  });

  it("orders by the edge's arrival time, unless the edge's clock is off by more than five minutes", async () => {
    const { store, deps } = setup();
    await captureMessage(message({ cseq: 1, receivedAt: '2026-11-21T11:59:59.000Z' }), deps);
    await captureMessage(message({ cseq: 2, receivedAt: '2026-11-21T09:00:00.000Z' }), deps);
    expect(store.messages.map((m) => m.receivedAt)).toEqual([
      '2026-11-21T11:59:59.000000Z',
      '2026-11-21T12:00:00.000000Z',
    ]);
  });

  it("answers an away recipient's offline notice once per sender, never to an automatic message", async () => {
    const { store, queue, deps } = setup();
    store.settings.set('sip:bob@example.com', { offlineNotice: 'Out until Monday' });
    await captureMessage(message({ cseq: 1, replyTo: 'sip:10.0.0.1:5060;transport=udp' }), deps);
    await captureMessage(message({ cseq: 2 }), deps);
    await captureMessage(message({ cseq: 3, from: 'sip:carol@example.com', autoSubmitted: true }), deps);
    expect(queue.jobs).toHaveLength(1);
    const [notice] = queue.jobs;
    expect(notice).toMatchObject({
      kind: 'notice',
      reason: 'offline-notice',
      target: 'sip:10.0.0.1:5060;transport=udp',
    });
    expect(notice?.kind === 'notice' && notice.message.from).toBe('sip:bob@example.com');
    expect(notice?.kind === 'notice' && notice.message.headers).toEqual([
      { name: 'Auto-Submitted', value: 'auto-replied' },
    ]);
  });

  it('sends the vacation auto-reply instead while on vacation, and starts delivery for someone online', async () => {
    const { store, queue, deps } = setup();
    store.settings.set('sip:bob@example.com', {
      vacation: { until: '2026-12-01T00:00:00Z', autoReply: 'On holiday' },
    });
    await captureMessage(message({ cseq: 1 }), deps);
    expect(queue.jobs[0]).toMatchObject({ kind: 'notice', reason: 'auto-reply' });
    store.presence.set('sip:carol@example.com', { published: 'online', version: 1, updatedAt: '' });
    await captureMessage(message({ cseq: 2, to: 'sip:carol@example.com' }), deps);
    expect(queue.jobs[1]).toEqual({ kind: 'deliver', recipient: 'sip:carol@example.com' });
  });
});
