import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ClientOutcome } from '../../edge/client-transactions.ts';
import {
  checkMessage,
  Delivery,
  deliveryMessage,
  deliveryRoute,
  endsBatch,
  NoRouteError,
  type SendableMessage,
  sipAddressOf,
  UNSENDABLE_STATUS,
  UnsendableError,
} from '../../edge/delivery.ts';
import { logger } from '../../edge/log.ts';
import { nameAddr, newBranch, sipDate, viaOf } from '../../edge/outgoing-request.ts';
import { getHeader, getHeaders, type SipRequest } from '../../edge/sip/message.ts';
import { parseNameAddr } from '../../edge/sip/name-addr.ts';
import { parseMessage, validateRequest } from '../../edge/sip/parser.ts';
import { serializeRequest } from '../../edge/sip/serialize.ts';
import { type DeliverRequest, DeliverRequestSchema } from '../../shared/contract/delivery.ts';
import type { SipTarget } from '../../shared/sip/uri.ts';
import { targetOfUri, UnsupportedTargetError } from '../../shared/sip/uri.ts';

// Bytes that are not valid UTF-8 (ISO-8859-1 "Grüße"), to prove the body is never re-encoded.
const LATIN1_BODY = Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65]);

function held(overrides: Partial<SendableMessage> = {}): SendableMessage {
  return {
    id: '01JDELIVERY0000000000000001',
    from: 'sip:alice@example.com',
    fromName: 'Alice "Al" \\ Smith',
    to: 'sip:bob@example.com',
    contentType: 'text/plain;charset=ISO-8859-1',
    body: LATIN1_BODY.toString('base64'),
    date: '2026-11-01T09:05:07.000Z',
    callId: '01JDELIVERY0000000000000001@holdover',
    headers: [{ name: 'Auto-Submitted', value: 'auto-replied' }],
    ...overrides,
  };
}

beforeAll(() => {
  logger.setLogLevel('SILENT');
});

const LOCAL = { host: '127.0.0.1', port: 5060 };
const UA: SipTarget = { transport: 'tcp', host: '127.0.0.1', port: 5072 };

function build(message = held(), fromTag = 'newtag1'): SipRequest {
  return deliveryMessage(message, {
    requestUri: 'sip:bob@127.0.0.1:5072;transport=tcp',
    target: UA,
    local: LOCAL,
    branch: 'z9hG4bKbranch1',
    fromTag,
  });
}

describe('the delivered MESSAGE', () => {
  it('is a valid request once on the wire, read back exactly', () => {
    const wire = parseMessage(serializeRequest(build()));
    if (wire.kind !== 'request') throw new Error('expected a request');
    expect(validateRequest(wire)).toBeNull();
    expect(wire.method).toBe('MESSAGE');
    expect(wire.uri).toBe('sip:bob@127.0.0.1:5072;transport=tcp');
  });

  it('From is the original sender with their display name and a new tag; To is the recipient', () => {
    const request = build();
    const from = parseNameAddr(getHeader(request, 'from') ?? '');
    expect(from).toEqual({
      displayName: 'Alice "Al" \\ Smith',
      uri: 'sip:alice@example.com',
      params: { tag: 'newtag1' },
    });
    expect(getHeader(request, 'to')).toBe('<sip:bob@example.com>');
    expect(getHeader(build(held(), 'other'), 'from')).toContain(';tag=other');
  });

  it('without a display name, From is just the address with the tag', () => {
    const { fromName: _, ...withoutName } = held();
    expect(getHeader(build(withoutName), 'from')).toBe('<sip:alice@example.com>;tag=newtag1');
  });

  it('carries the Call-ID given, CSeq 1 MESSAGE, Max-Forwards 70 and our Via', () => {
    const request = build();
    expect(getHeader(request, 'call-id')).toBe('01JDELIVERY0000000000000001@holdover');
    expect(getHeader(request, 'cseq')).toBe('1 MESSAGE');
    expect(getHeader(request, 'max-forwards')).toBe('70');
    expect(getHeaders(request, 'via')).toEqual(['SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKbranch1;rport']);
  });

  it('Date is the original time in RFC 1123 GMT', () => {
    expect(getHeader(build(), 'date')).toBe('Sun, 01 Nov 2026 09:05:07 GMT');
    expect(getHeader(build(held({ date: '2026-11-21T11:00:00.000+01:00' })), 'date')).toBe(
      'Sat, 21 Nov 2026 10:00:00 GMT',
    );
  });

  it('the body bytes and Content-Type are exactly the original ones', () => {
    const wire = parseMessage(serializeRequest(build()));
    expect(wire.body.equals(LATIN1_BODY)).toBe(true);
    expect(getHeader(wire, 'content-type')).toBe('text/plain;charset=ISO-8859-1');
    expect(getHeader(wire, 'content-length')).toBe(String(LATIN1_BODY.length));
  });

  it('adds the extra headers and marks the delivery with X-Holdover-Delivery', () => {
    const request = build();
    expect(getHeader(request, 'auto-submitted')).toBe('auto-replied');
    expect(getHeader(request, 'x-holdover-delivery')).toBe('01JDELIVERY0000000000000001');
    const text = serializeRequest(request).toString('latin1');
    expect(text).toContain('\r\nAuto-Submitted: auto-replied\r\n');
    expect(text).toContain('\r\nX-Holdover-Delivery: 01JDELIVERY0000000000000001\r\n');
  });
});

describe('routing', () => {
  const request: DeliverRequest = {
    recipient: 'sip:bob@example.com',
    target: 'sip:bob@127.0.0.1:5072;transport=tcp',
    messages: [held()],
  };

  it('without a proxy: to the target, which is also the Request-URI', () => {
    const route = deliveryRoute(request, undefined);
    expect(route.target).toEqual({ transport: 'tcp', host: '127.0.0.1', port: 5072 });
    expect(route.requestUriOf(held())).toBe('sip:bob@127.0.0.1:5072;transport=tcp');
  });

  it('with OUTBOUND_PROXY: to the proxy, Request-URI = the To AOR', () => {
    const proxy = {
      uri: 'sip:10.0.0.1:5060;transport=tcp',
      target: targetOfUri('sip:10.0.0.1:5060;transport=tcp'),
    };
    const route = deliveryRoute(request, proxy);
    expect(route.target).toEqual({ transport: 'tcp', host: '10.0.0.1', port: 5060 });
    expect(route.requestUriOf(held())).toBe('sip:bob@example.com');
  });

  it('neither proxy nor target → NoRouteError', () => {
    const { target: _, ...noTarget } = request;
    expect(() => deliveryRoute(noTarget, undefined)).toThrow(NoRouteError);
    expect(() => deliveryRoute({ ...request, target: 'sips:bob@10.0.0.2' }, undefined)).toThrow(NoRouteError);
  });

  it.each([
    ['sip:bob@10.0.0.2', { transport: 'udp', host: '10.0.0.2', port: 5060 }],
    ['sip:bob@10.0.0.2:5072;transport=TCP', { transport: 'tcp', host: '10.0.0.2', port: 5072 }],
    ['sip:bob@ua.example.com;maddr=10.0.0.7', { transport: 'udp', host: '10.0.0.7', port: 5060 }],
    ['sip:bob@[2001:db8::1]:5080', { transport: 'udp', host: '2001:db8::1', port: 5080 }],
  ])('targetOfUri(%s)', (uri, target) => {
    expect(targetOfUri(uri)).toEqual(target);
  });

  it.each(['sips:bob@10.0.0.2', 'sip:bob@10.0.0.2;transport=tls', 'tel:+123', 'nonsense'])(
    'targetOfUri(%s) is refused',
    (uri) => {
      expect(() => targetOfUri(uri)).toThrow(UnsupportedTargetError);
    },
  );
});

describe('small builders', () => {
  it('viaOf brackets IPv6 hosts; nameAddr escapes quotes; sipDate pads the day', () => {
    expect(viaOf({ host: '::1', port: 5060 }, 'udp', 'z9hG4bKx')).toBe(
      'SIP/2.0/UDP [::1]:5060;branch=z9hG4bKx;rport',
    );
    expect(nameAddr('sip:a@b', 'say "hi"')).toBe('"say \\"hi\\"" <sip:a@b>');
    expect(sipDate(new Date('2026-03-05T01:02:03Z'))).toBe('Thu, 05 Mar 2026 01:02:03 GMT');
  });
});

describe('the /deliver body schema', () => {
  const valid = { recipient: 'sip:bob@example.com', target: 'sip:bob@127.0.0.1:5072', messages: [held()] };

  it('accepts the contract example', () => {
    expect(DeliverRequestSchema.safeParse(valid).success).toBe(true);
  });

  it.each([
    ['no messages', { ...valid, messages: [] }],
    ['a recipient that is not a URI', { ...valid, recipient: 'bob' }],
    ['a target that is not a SIP URI', { ...valid, target: 'tel:+15551234' }],
    ['a message without an id', { ...valid, messages: [{ ...held(), id: undefined }] }],
    ['a message id with a space', { ...valid, messages: [held({ id: 'a b' })] }],
  ])('refuses the whole batch for %s', (_, body) => {
    expect(DeliverRequestSchema.safeParse(body).success).toBe(false);
  });

  it.each([
    'sip:alice@example.com',
    'sips:alice@example.com',
    'tel:+15551234',
    'im:alice@example.com',
    'pres:a@b.org',
  ])('takes a sender %s', (from) => {
    expect(checkMessage(held({ from })).from).toBe(from);
    expect(
      DeliverRequestSchema.safeParse({ ...valid, recipient: from, messages: [held({ to: from })] }).success,
    ).toBe(true);
  });

  it.each([
    ['a sender that is not a URI', held({ from: 'alice' }), /from: must be a URI/],
    ['a body that is not base64', held({ body: 'not base64!' }), /body: must be base64/],
    ['a date that is not ISO 8601', held({ date: 'yesterday' }), /date/],
    ['a Call-ID with a space', held({ callId: 'a b' }), /callId/],
    ['a line break in fromName', held({ fromName: 'A\r\nVia: x' }), /fromName: must be one line/],
    ['a header that overrides Via', held({ headers: [{ name: 'v', value: 'x' }] }), /is set by the edge/],
    ['a header value with a line break', held({ headers: [{ name: 'X-A', value: 'a\nb' }] }), /one line/],
    ['a malformed content type', held({ contentType: 'text' }), /contentType/],
  ])('takes the batch but finds %s unsendable, on its own', (_, message, reason) => {
    expect(DeliverRequestSchema.safeParse({ ...valid, messages: [message] }).success).toBe(true);
    expect(() => checkMessage(message)).toThrow(UnsendableError);
    expect(() => checkMessage(message)).toThrow(reason);
  });
});

describe('sipAddressOf (a From/To a UA can use)', () => {
  it.each([
    ['sip:alice@example.com;transport=tcp', 'sip:alice@example.com;transport=tcp'],
    ['sips:alice@example.com', 'sips:alice@example.com'],
    ['tel:+15551234', 'sip:+15551234@example.com;user=phone'],
    ['tel:+1-555-1234', 'sip:+1-555-1234@example.com;user=phone'],
    ['tel:7042;phone-context=example.com', 'sip:7042;phone-context=example.com@example.com;user=phone'],
    ['im:alice@example.org', 'sip:alice@example.org'],
    ['pres:alice@example.org', 'sip:alice@example.org'],
    ['im:alice@example.org?subject=hi', 'sip:alice@example.org'],
    ['im:nobody', 'im:nobody'],
    ['mailto:alice@example.org', 'mailto:alice@example.org'],
  ])('%s → %s', (uri, expected) => {
    expect(sipAddressOf(uri, 'example.com')).toBe(expected);
  });
});

describe('Delivery (one after another, stop rules)', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  function service(answers: number[]) {
    const sent: SipRequest[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const delivery = new Delivery({
      local: LOCAL,
      originate: async (build, target): Promise<ClientOutcome> => {
        sent.push(build({ target, local: LOCAL, branch: newBranch() }));
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 1));
        inFlight--;
        const status = answers.shift() ?? 200;
        return { status, reason: `reason ${status}` };
      },
    });
    return { delivery, sent, maxInFlight: () => maxInFlight };
  }

  const three = (target = 'sip:bob@127.0.0.1:5072'): DeliverRequest => ({
    recipient: 'sip:bob@example.com',
    target,
    messages: ['m1', 'm2', 'm3'].map((id) => held({ id, callId: `${id}@holdover` })),
  });

  it('sends every message in order, one at a time, with a new branch and tag each', async () => {
    const { delivery, sent, maxInFlight } = service([200, 202, 200]);
    const outcomes = await delivery.deliver(three());
    expect(outcomes).toEqual([
      { id: 'm1', status: 200, reason: 'reason 200' },
      { id: 'm2', status: 202, reason: 'reason 202' },
      { id: 'm3', status: 200, reason: 'reason 200' },
    ]);
    expect(sent.map((request) => getHeader(request, 'call-id'))).toEqual([
      'm1@holdover',
      'm2@holdover',
      'm3@holdover',
    ]);
    expect(new Set(sent.map((request) => getHeaders(request, 'via')[0])).size).toBe(3);
    expect(
      new Set(sent.map((request) => parseNameAddr(getHeader(request, 'from') ?? '').params.tag)).size,
    ).toBe(3);
    expect(maxInFlight()).toBe(1);
  });

  it.each([408, 480, 500, 503])('stops after %s: the rest is not attempted', async (status) => {
    const { delivery, sent } = service([200, status, 200]);
    const outcomes = await delivery.deliver(three());
    expect(outcomes.map((outcome) => outcome.status)).toEqual([200, status]);
    expect(sent).toHaveLength(2);
  });

  it.each([403, 404, 415, 488, 603])('continues after a permanent %s', async (status) => {
    const { delivery } = service([status, 200, 200]);
    const outcomes = await delivery.deliver(three());
    expect(outcomes.map((outcome) => outcome.status)).toEqual([status, 200, 200]);
  });

  it('endsBatch: 408, 480 and 5xx only', () => {
    expect([200, 202, 400, 404, 408, 480, 481, 500, 503, 599, 600, 603].filter(endsBatch)).toEqual([
      408, 480, 500, 503, 599,
    ]);
  });

  it('two batches for one recipient never interleave', async () => {
    const { delivery, sent, maxInFlight } = service([]);
    const [first, second] = await Promise.all([delivery.deliver(three()), delivery.deliver(three())]);
    expect(first).toHaveLength(3);
    expect(second).toHaveLength(3);
    expect(sent).toHaveLength(6);
    expect(maxInFlight()).toBe(1);
  });

  it('a batch queued behind one that stopped is not sent; once the chain is idle, a batch is', async () => {
    const { delivery, sent } = service([200, 480]);
    const [first, second] = await Promise.all([delivery.deliver(three()), delivery.deliver(three())]);
    expect(first.map((outcome) => outcome.status)).toEqual([200, 480]);
    expect(second).toEqual([]);
    expect(sent).toHaveLength(2);
    // a later run (the chain is idle) starts afresh
    await expect(delivery.deliver(three())).resolves.toHaveLength(3);
  });

  it('answers a message it cannot send on its own (606) and goes on with the next, in order', async () => {
    const { delivery, sent } = service([200, 200]);
    const request = three();
    request.messages[1] = { ...held({ id: 'm2', callId: 'm2@holdover' }), from: 'not a uri', body: '!' };
    const lines: Array<{ id: string; status: number }> = [];
    const outcomes = await delivery.deliver(request, (outcome) => lines.push(outcome));
    expect(outcomes.map((outcome) => [outcome.id, outcome.status])).toEqual([
      ['m1', 200],
      ['m2', UNSENDABLE_STATUS],
      ['m3', 200],
    ]);
    expect(outcomes[1]?.reason).toMatch(
      /cannot send this message \(from: must be a URI.*body: must be base64/,
    );
    expect(lines).toHaveLength(3);
    expect(sent.map((request) => getHeader(request, 'call-id'))).toEqual(['m1@holdover', 'm3@holdover']);
  });

  it("delivers a tel: sender as its SIP form in the recipient's domain, an im: sender as sip:", async () => {
    const { delivery, sent } = service([]);
    await delivery.deliver({
      recipient: 'sip:bob@example.com',
      target: 'sip:bob@127.0.0.1:5072',
      messages: [
        held({ id: 't1', from: 'tel:+15551234', fromName: 'Phone' }),
        held({ id: 'i1', from: 'im:carol@example.org' }),
      ],
    });
    expect(parseNameAddr(getHeader(sent[0] as SipRequest, 'from') ?? '')).toMatchObject({
      displayName: 'Phone',
      uri: 'sip:+15551234@example.com;user=phone',
    });
    expect(parseNameAddr(getHeader(sent[1] as SipRequest, 'from') ?? '').uri).toBe('sip:carol@example.org');
    const wire = parseMessage(serializeRequest(sent[0] as SipRequest));
    if (wire.kind !== 'request') throw new Error('expected a request');
    expect(validateRequest(wire)).toBeNull();
  });

  it("sends a notice to a tel: addressee with a SIP To in the sender's domain; via a proxy as Request-URI", async () => {
    const sent: SipRequest[] = [];
    const delivery = new Delivery({
      local: LOCAL,
      outboundProxy: {
        uri: 'sip:127.0.0.1:5070',
        target: { transport: 'udp', host: '127.0.0.1', port: 5070 },
      },
      originate: async (build, target) => {
        sent.push(build({ target, local: LOCAL, branch: newBranch() }));
        return { status: 200, reason: 'OK' };
      },
    });
    await delivery.deliver({
      recipient: 'tel:+15551234',
      messages: [held({ id: 'n1', from: 'sip:bob@example.com', to: 'tel:+15551234' })],
    });
    expect(sent[0]?.uri).toBe('sip:+15551234@example.com;user=phone');
    expect(getHeader(sent[0] as SipRequest, 'to')).toBe('<sip:+15551234@example.com;user=phone>');
  });

  it('logs one line per message with id, Call-ID, status and ms, and never the body', async () => {
    const info = vi.spyOn(logger, 'info').mockImplementation(() => {});
    const { delivery } = service([200, 480]);
    await delivery.deliver(three());
    const lines = info.mock.calls.filter(([message]) => message === 'delivery outcome');
    expect(lines).toHaveLength(2);
    expect(lines[0]?.[1]).toEqual({ id: 'm1', callId: 'm1@holdover', status: 200, ms: expect.any(Number) });
    const logged = JSON.stringify(info.mock.calls);
    expect(logged).not.toContain(held().body);
  });
});
