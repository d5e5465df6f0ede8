import { beforeAll, describe, expect, it } from 'vitest';
import type { ClientOutcome, Schedule } from '../../edge/client-transactions.ts';
import { logger } from '../../edge/log.ts';
import { buildNotify, messageSummaryBody, type SubscriptionDialog } from '../../edge/mwi/notify.ts';
import { MessageWaiting } from '../../edge/mwi/subscriptions.ts';
import { summaryFromApi } from '../../edge/mwi/summary-api.ts';
import { newBranch } from '../../edge/outgoing-request.ts';
import { getHeader, getHeaders, type SipRequest } from '../../edge/sip/message.ts';
import { parseNameAddr } from '../../edge/sip/name-addr.ts';
import { parseMessage, validateRequest } from '../../edge/sip/parser.ts';
import { serializeRequest } from '../../edge/sip/serialize.ts';
import type { SipTarget } from '../../shared/sip/uri.ts';
import { receivedRequest } from '../support/sip-request.ts';

beforeAll(() => {
  logger.setLogLevel('SILENT');
});

describe('simple-message-summary body (RFC 3842 / RFC 3458)', () => {
  it('messages waiting', () => {
    expect(messageSummaryBody('sip:bob@example.com', 3).toString()).toBe(
      'Messages-Waiting: yes\r\nMessage-Account: sip:bob@example.com\r\nText-Message: 3/0\r\n',
    );
  });

  it('none waiting', () => {
    expect(messageSummaryBody('sip:bob@example.com', 0).toString()).toBe(
      'Messages-Waiting: no\r\nMessage-Account: sip:bob@example.com\r\nText-Message: 0/0\r\n',
    );
  });
});

const DIALOG: SubscriptionDialog = {
  callId: 'sub-1@ua',
  local: '<sip:bob@example.com>;tag=ours',
  remote: '"Bob" <sip:bob@example.com>;tag=theirs',
  remoteTarget: 'sip:bob@127.0.0.1:5072;transport=tcp',
  routeSet: ['<sip:proxy.example.com;lr>'],
  eventId: 'mwi1',
};
const UA: SipTarget = { transport: 'tcp', host: '127.0.0.1', port: 5072 };

describe('buildNotify (RFC 6665)', () => {
  const notify = buildNotify({
    dialog: DIALOG,
    cseq: 2,
    subscriptionState: 'active;expires=3599',
    body: messageSummaryBody('sip:bob@example.com', 1),
    local: { host: '127.0.0.1', port: 5060 },
    target: UA,
    branch: 'z9hG4bKn1',
  });

  it('is a valid in-dialog request to the subscriber’s contact', () => {
    const wire = parseMessage(serializeRequest(notify));
    if (wire.kind !== 'request') throw new Error('expected a request');
    expect(validateRequest(wire)).toBeNull();
    expect(wire.method).toBe('NOTIFY');
    expect(wire.uri).toBe('sip:bob@127.0.0.1:5072;transport=tcp');
  });

  it('From is the subscription’s To with our tag, To is the subscriber with theirs, CSeq counts', () => {
    expect(getHeader(notify, 'from')).toBe('<sip:bob@example.com>;tag=ours');
    expect(getHeader(notify, 'to')).toBe('"Bob" <sip:bob@example.com>;tag=theirs');
    expect(getHeader(notify, 'call-id')).toBe('sub-1@ua');
    expect(getHeader(notify, 'cseq')).toBe('2 NOTIFY');
  });

  it('carries Route, Contact, Event (with id), Subscription-State and the summary', () => {
    expect(getHeaders(notify, 'route')).toEqual(['<sip:proxy.example.com;lr>']);
    expect(getHeader(notify, 'contact')).toBe('<sip:127.0.0.1:5060;transport=tcp>');
    expect(getHeader(notify, 'event')).toBe('message-summary;id=mwi1');
    expect(getHeader(notify, 'subscription-state')).toBe('active;expires=3599');
    expect(getHeader(notify, 'content-type')).toBe('application/simple-message-summary');
    expect(notify.body.toString()).toContain('Text-Message: 1/0');
  });

  it('without a count there is no body and no Content-Type', () => {
    const empty = buildNotify({
      dialog: DIALOG,
      cseq: 1,
      subscriptionState: 'terminated;reason=timeout',
      local: { host: '127.0.0.1', port: 5060 },
      target: UA,
      branch: 'z9hG4bKn2',
    });
    expect(empty.body.length).toBe(0);
    expect(getHeader(empty, 'content-type')).toBeUndefined();
  });
});

describe('summaryFromApi', () => {
  it('reads { aor, waiting } from the signed GET, with the AOR URL-encoded', async () => {
    const paths: string[] = [];
    const read = summaryFromApi({
      get: async (path) => {
        paths.push(path);
        return { status: 200, body: { aor: 'sip:bob@example.com', waiting: 4 } };
      },
    });
    expect(await read('sip:bob@example.com')).toBe(4);
    expect(paths).toEqual(['/v1/users/sip%3Abob%40example.com/summary']);
  });

  it('throws on a non-200 or a malformed answer', async () => {
    await expect(
      summaryFromApi({ get: async () => ({ status: 500, body: {} }) })('sip:a@b'),
    ).rejects.toThrow();
    await expect(
      summaryFromApi({ get: async () => ({ status: 200, body: { waiting: -1 } }) })('sip:a@b'),
    ).rejects.toThrow();
  });
});

// ---- MessageWaiting with fake timers, a fake API and a fake UA ----

function subscribeRequest(
  options: { expires?: number; toTag?: string; event?: string; accept?: string } = {},
) {
  const lines = [
    'SUBSCRIBE sip:bob@example.com SIP/2.0',
    'Via: SIP/2.0/TCP 127.0.0.1:5072;branch=z9hG4bKsub',
    'From: <sip:bob@example.com>;tag=theirs',
    `To: <sip:bob@example.com>${options.toTag ? `;tag=${options.toTag}` : ''}`,
    'Call-ID: sub-1@ua',
    'CSeq: 1 SUBSCRIBE',
    'Contact: <sip:bob@127.0.0.1:5072;transport=tcp>',
    `Event: ${options.event ?? 'message-summary'}`,
    ...(options.expires === undefined ? [] : [`Expires: ${options.expires}`]),
    ...(options.accept ? [`Accept: ${options.accept}`] : []),
    'Content-Length: 0',
    '',
    '',
  ];
  const message = parseMessage(Buffer.from(lines.join('\r\n')));
  if (message.kind !== 'request') throw new Error('expected a request');
  return receivedRequest(message);
}

const SOURCE = { transport: 'tcp' as const, address: '127.0.0.1', port: 40000 };

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

function setup(options: { answer?: number } = {}) {
  let now = 0;
  const timers: Array<{ at: number; callback: () => void; cancelled: boolean }> = [];
  const schedule: Schedule = (callback, ms) => {
    const timer = { at: now + ms, callback, cancelled: false };
    timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  };
  const advance = (ms: number) => {
    now += ms;
    for (const timer of [...timers]) {
      if (!timer.cancelled && timer.at <= now) {
        timer.cancelled = true;
        timer.callback();
      }
    }
  };
  const notifies: Array<{ request: SipRequest; target: SipTarget }> = [];
  const counts = { waiting: 2, reads: 0 };
  const mwi = new MessageWaiting({
    domains: ['example.com'],
    local: { host: '127.0.0.1', port: 5060 },
    originate: async (build, target): Promise<ClientOutcome> => {
      const request = build({ target, local: { host: '127.0.0.1', port: 5060 }, branch: newBranch() });
      notifies.push({ request, target });
      return { status: options.answer ?? 200, reason: 'OK' };
    },
    waitingFor: async () => {
      counts.reads++;
      return counts.waiting;
    },
    pollIntervalMs: 30_000,
    schedule,
    now: () => now,
  });
  return { mwi, notifies, counts, advance, live: () => timers.filter((timer) => !timer.cancelled).length };
}

const textMessage = (request: SipRequest) => /Text-Message: (\d+)\/0/.exec(request.body.toString())?.[1];

describe('MessageWaiting', () => {
  it('SUBSCRIBE → 200 with Expires, Contact and a To tag, then a NOTIFY with the count', async () => {
    const { mwi, notifies } = setup();
    const reply = mwi.subscribe(subscribeRequest({ expires: 600 }), SOURCE);
    expect(reply.status).toBe(200);
    expect(reply.toTag).toMatch(/^[0-9a-f]{16}$/);
    const headers = { headers: reply.headers ?? [] };
    expect(getHeader(headers, 'expires')).toBe('600');
    expect(getHeader(headers, 'contact')).toBe('<sip:127.0.0.1:5060;transport=tcp>');
    expect(notifies).toHaveLength(0); // not before the 200 is on its way
    await settle();
    expect(notifies).toHaveLength(1);
    const notify = notifies[0]?.request as SipRequest;
    expect(notifies[0]?.target).toEqual({ transport: 'tcp', host: '127.0.0.1', port: 5072 });
    expect(parseNameAddr(getHeader(notify, 'from') ?? '').params.tag).toBe(reply.toTag);
    expect(getHeader(notify, 'to')).toBe('<sip:bob@example.com>;tag=theirs');
    expect(getHeader(notify, 'subscription-state')).toBe('active;expires=600');
    expect(notify.body.toString()).toBe(
      'Messages-Waiting: yes\r\nMessage-Account: sip:bob@example.com\r\nText-Message: 2/0\r\n',
    );
  });

  it('a refresh notifies only when the count changed, with CSeq going up', async () => {
    const { mwi, notifies, counts } = setup();
    mwi.subscribe(subscribeRequest(), SOURCE);
    await settle();
    await mwi.refresh('sip:bob@example.com');
    await settle();
    expect(notifies).toHaveLength(1);
    counts.waiting = 0;
    await mwi.refresh('sip:bob@example.com');
    await settle();
    expect(notifies).toHaveLength(2);
    expect(textMessage(notifies[1]?.request as SipRequest)).toBe('0');
    expect(notifies.map((n) => getHeader(n.request, 'cseq'))).toEqual(['1 NOTIFY', '2 NOTIFY']);
  });

  it('refreshing an AOR nobody subscribed to does not read the API', async () => {
    const { mwi, counts } = setup();
    await mwi.refresh('sip:carol@example.com');
    expect(counts.reads).toBe(0);
  });

  it('the periodic poll catches changes made elsewhere', async () => {
    const { mwi, notifies, counts, advance } = setup();
    mwi.start();
    mwi.subscribe(subscribeRequest(), SOURCE);
    await settle();
    counts.waiting = 5;
    advance(30_000);
    await settle();
    expect(notifies.map((n) => textMessage(n.request))).toEqual(['2', '5']);
    await mwi.close();
  });

  it('in-dialog Expires: 0 → 200 and a terminating NOTIFY; the subscription is gone', async () => {
    const { mwi, notifies, live } = setup();
    const reply = mwi.subscribe(subscribeRequest(), SOURCE);
    await settle();
    const end = mwi.subscribe(subscribeRequest({ toTag: reply.toTag ?? '', expires: 0 }), SOURCE);
    expect(end.status).toBe(200);
    await settle();
    expect(getHeader(notifies.at(-1)?.request as SipRequest, 'subscription-state')).toBe(
      'terminated;reason=timeout',
    );
    expect(mwi.isSubscribed('sip:bob@example.com')).toBe(false);
    expect(live()).toBe(0);
  });

  it('an in-dialog refresh renews and notifies', async () => {
    const { mwi, notifies, advance } = setup();
    const reply = mwi.subscribe(subscribeRequest({ expires: 600 }), SOURCE);
    await settle();
    advance(500_000);
    mwi.subscribe(subscribeRequest({ toTag: reply.toTag ?? '', expires: 600 }), SOURCE);
    await settle();
    advance(500_000); // past the first expiry, within the renewed one
    await settle();
    expect(notifies.map((n) => getHeader(n.request, 'subscription-state'))).toEqual([
      'active;expires=600',
      'active;expires=600',
    ]);
  });

  it('a subscription that runs out ends with terminated;reason=timeout', async () => {
    const { mwi, notifies, advance } = setup();
    mwi.subscribe(subscribeRequest({ expires: 60 }), SOURCE);
    await settle();
    advance(60_000);
    await settle();
    expect(getHeader(notifies.at(-1)?.request as SipRequest, 'subscription-state')).toBe(
      'terminated;reason=timeout',
    );
    expect(mwi.isSubscribed('sip:bob@example.com')).toBe(false);
  });

  it('an initial SUBSCRIBE with Expires: 0 is a fetch: one terminating NOTIFY with the count', async () => {
    const { mwi, notifies } = setup();
    expect(mwi.subscribe(subscribeRequest({ expires: 0 }), SOURCE).status).toBe(200);
    await settle();
    expect(notifies).toHaveLength(1);
    expect(getHeader(notifies[0]?.request as SipRequest, 'subscription-state')).toBe(
      'terminated;reason=timeout',
    );
    expect(textMessage(notifies[0]?.request as SipRequest)).toBe('2');
  });

  it('a subscriber answering 481 loses the subscription', async () => {
    const { mwi } = setup({ answer: 481 });
    mwi.subscribe(subscribeRequest(), SOURCE);
    await settle();
    expect(mwi.isSubscribed('sip:bob@example.com')).toBe(false);
  });

  it.each([
    ['another event', { event: 'presence' }, 489],
    ['an unknown dialog', { toTag: 'unknown' }, 481],
    ['an Accept without the summary type', { accept: 'application/pidf+xml' }, 406],
    ['too brief', { expires: 5 }, 423],
  ])('%s → %s', (_, options, status) => {
    const { mwi } = setup();
    expect(mwi.subscribe(subscribeRequest(options), SOURCE).status).toBe(status);
  });

  it('close() clears every timer', async () => {
    const { mwi, live } = setup();
    mwi.start();
    mwi.subscribe(subscribeRequest(), SOURCE);
    await settle();
    expect(live()).toBe(2);
    await mwi.close();
    expect(live()).toBe(0);
  });
});
