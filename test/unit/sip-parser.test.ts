import { describe, expect, it } from 'vitest';
import { getHeader, getHeaders, type SipRequest, type SipResponse } from '../../edge/sip/message.ts';
import {
  canAnswer,
  parseMessage,
  readResponse,
  SipParseError,
  validateRequest,
  validateResponse,
} from '../../edge/sip/parser.ts';

const CRLF = '\r\n';

function datagram(lines: string[], body: Buffer | string = ''): Buffer {
  return Buffer.concat([Buffer.from(lines.join(CRLF) + CRLF + CRLF), Buffer.from(body)]);
}

function request(bytes: Buffer): SipRequest {
  const message = parseMessage(bytes);
  if (message.kind !== 'request') throw new Error('expected a request');
  return message;
}

function response(bytes: Buffer): SipResponse {
  const message = parseMessage(bytes);
  if (message.kind !== 'response') throw new Error('expected a response');
  return message;
}

const MESSAGE_HEADERS = [
  'MESSAGE sip:bob@example.com SIP/2.0',
  'Via: SIP/2.0/UDP client.example.net:5060;branch=z9hG4bK776asdhds',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@example.com>',
  'From: Alice <sip:alice@example.net>;tag=49583',
  'Call-ID: asd88asd77a@1.2.3.4',
  'CSeq: 1 MESSAGE',
  'Content-Type: text/plain',
];

function message(extra: string[] = [], body = 'Hello', without: string[] = []): Buffer {
  const lines = MESSAGE_HEADERS.filter((line) => !without.some((name) => line.startsWith(`${name}:`)));
  return datagram([...lines, ...extra, `Content-Length: ${Buffer.byteLength(body)}`], body);
}

describe('parseMessage: start-line and header fields', () => {
  it('parses a request line and keeps the Request-URI and version as received', () => {
    const req = request(message());
    expect(req).toMatchObject({
      kind: 'request',
      method: 'MESSAGE',
      uri: 'sip:bob@example.com',
      version: 'SIP/2.0',
    });
  });

  it('parses a status line, including an empty reason phrase', () => {
    const ok = response(
      datagram(['SIP/2.0 202 Accepted', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'Content-Length: 0']),
    );
    expect(ok).toMatchObject({ kind: 'response', status: 202, reason: 'Accepted', version: 'SIP/2.0' });
    const bare = response(datagram(['SIP/2.0 100 ', 'Content-Length: 0']));
    expect(bare.reason).toBe('');
  });

  it('maps compact header names to their long forms', () => {
    const req = request(
      datagram([
        'OPTIONS sip:bob@example.com SIP/2.0',
        'v: SIP/2.0/UDP h;branch=z9hG4bK1',
        'f: <sip:a@example.net>;tag=1',
        't: <sip:bob@example.com>',
        'i: abc@h',
        'CSeq: 1 OPTIONS',
        'm: <sip:a@h>',
        'c: text/plain',
        'k: path',
        's: hello',
        'e: gzip',
        'o: presence',
        'u: message-summary',
        'l: 0',
      ]),
    );
    expect(req.headers.map((header) => header.name)).toEqual([
      'via',
      'from',
      'to',
      'call-id',
      'cseq',
      'contact',
      'content-type',
      'supported',
      'subject',
      'content-encoding',
      'event',
      'allow-events',
      'content-length',
    ]);
    expect(getHeader(req, 'i')).toBe('abc@h');
    expect(getHeader(req, 'Call-ID')).toBe('abc@h');
  });

  it('treats header names case-insensitively and tolerates whitespace before the colon', () => {
    const req = request(
      datagram(['OPTIONS sip:b@h SIP/2.0', 'cALL-iD   : x@y', 'VIA: SIP/2.0/TCP h', 'Content-Length: 0']),
    );
    expect(getHeader(req, 'call-id')).toBe('x@y');
    expect(getHeader(req, 'Via')).toBe('SIP/2.0/TCP h');
  });

  it('unfolds continuation lines into one value (RFC 3261 §7.3.1)', () => {
    const req = request(
      datagram([
        'OPTIONS sip:b@h SIP/2.0',
        'Subject: first part',
        '   second part',
        '\tthird part',
        'To:',
        ' <sip:b@h>',
        'Content-Length: 0',
      ]),
    );
    expect(getHeader(req, 'subject')).toBe('first part second part third part');
    expect(getHeader(req, 'to')).toBe('<sip:b@h>');
  });

  it('accepts bare LF line endings', () => {
    const req = request(Buffer.from('OPTIONS sip:b@h SIP/2.0\nCall-ID: a@b\nContent-Length: 2\n\nhi'));
    expect(getHeader(req, 'call-id')).toBe('a@b');
    expect(req.body.toString()).toBe('hi');
  });

  it('skips CRLF keep-alives before the start-line', () => {
    const req = request(Buffer.concat([Buffer.from('\r\n\r\n\r\n'), message()]));
    expect(req.method).toBe('MESSAGE');
  });

  it('splits Via values given in one header and across headers, in order', () => {
    const req = request(
      datagram([
        'OPTIONS sip:b@h SIP/2.0',
        'Via: SIP/2.0/UDP first;branch=z9hG4bK1, SIP/2.0/TCP second;branch=z9hG4bK2',
        'Via: SIP/2.0/UDP third;branch=z9hG4bK3',
        'Content-Length: 0',
      ]),
    );
    expect(getHeaders(req, 'via')).toEqual([
      'SIP/2.0/UDP first;branch=z9hG4bK1',
      'SIP/2.0/TCP second;branch=z9hG4bK2',
      'SIP/2.0/UDP third;branch=z9hG4bK3',
    ]);
  });

  it('does not split list headers at commas inside quoted display names or <URIs>', () => {
    const req = request(
      datagram([
        'REGISTER sip:h SIP/2.0',
        'Contact: "Watson, Thomas \\"Tom\\"" <sip:t@h;x=a,b>;q=0.5, <sip:other@h>',
        'Content-Length: 0',
      ]),
    );
    expect(getHeaders(req, 'contact')).toEqual([
      '"Watson, Thomas \\"Tom\\"" <sip:t@h;x=a,b>;q=0.5',
      '<sip:other@h>',
    ]);
  });

  it('does not split headers that are not lists (Date has a comma)', () => {
    const req = request(datagram(['OPTIONS sip:b@h SIP/2.0', 'Date: Sat, 13 Nov 2010 23:29:00 GMT', 'l: 0']));
    expect(getHeaders(req, 'date')).toEqual(['Sat, 13 Nov 2010 23:29:00 GMT']);
  });

  it.each([
    ['no start-line at all', ''],
    ['only keep-alives', '\r\n\r\n'],
    ['an HTTP request', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a status code that is not three digits', 'SIP/2.0 4294967301 big\r\n\r\n'],
    ['a header line without a colon', 'OPTIONS sip:b@h SIP/2.0\r\nFoobar roobar\r\n\r\n'],
    ['a continuation before any header', 'OPTIONS sip:b@h SIP/2.0\r\n folded\r\n\r\n'],
    ['a bare CR inside a header', 'OPTIONS sip:b@h SIP/2.0\r\nSubject: a\rInjected: b\r\n\r\n'],
  ])('throws SipParseError for %s', (_label, text) => {
    expect(() => parseMessage(Buffer.from(text))).toThrow(SipParseError);
  });
});

describe('parseMessage: bodies on a datagram (RFC 3261 §18.3)', () => {
  it('keeps UTF-8 body bytes exactly, emoji included', () => {
    const text = 'Grüße 👋🏽 — ça va?';
    const req = request(message([], text));
    expect(req.body.equals(Buffer.from(text, 'utf8'))).toBe(true);
  });

  it('keeps binary body bytes exactly (NUL, CR, LF, invalid UTF-8)', () => {
    const binary = Buffer.from([0x00, 0x0d, 0x0a, 0x0d, 0x0a, 0xff, 0xfe, 0x80, 0x00]);
    const bytes = datagram(
      [
        'MESSAGE sip:b@h SIP/2.0',
        'Content-Type: application/octet-stream',
        `Content-Length: ${binary.length}`,
      ],
      binary,
    );
    expect(request(bytes).body.equals(binary)).toBe(true);
  });

  it('discards bytes beyond Content-Length', () => {
    const bytes = Buffer.concat([message([], 'Hello'), Buffer.from('EXTRA BYTES')]);
    expect(request(bytes).body.toString()).toBe('Hello');
  });

  it('takes the rest of the datagram when Content-Length is absent', () => {
    const bytes = datagram(['MESSAGE sip:b@h SIP/2.0', 'Content-Type: text/plain'], 'whole rest');
    expect(request(bytes).body.toString()).toBe('whole rest');
  });

  it('keeps a body shorter than Content-Length, which validateRequest refuses', () => {
    const lines = MESSAGE_HEADERS.concat('Content-Length: 50');
    const req = request(datagram(lines, 'short'));
    expect(req.body.toString()).toBe('short');
    expect(validateRequest(req)).toEqual({ status: 400, reason: 'Content-Length larger than body' });
  });

  it('reads an unterminated header section as headers without a body', () => {
    const req = request(Buffer.from('OPTIONS sip:b@h SIP/2.0\r\nCall-ID: a@b\r\n'));
    expect(getHeader(req, 'call-id')).toBe('a@b');
    expect(req.body.length).toBe(0);
  });
});

describe('validateRequest', () => {
  it('accepts a well-formed MESSAGE', () => {
    expect(validateRequest(request(message()))).toBeNull();
  });

  it('accepts Max-Forwards 0: a UAS answers it itself (RFC 4475 §3.3.11)', () => {
    const req = request(message(['Max-Forwards: 0'], 'x', ['Max-Forwards']));
    expect(validateRequest(req)).toBeNull();
  });

  it.each([
    ['Via', 'Missing Via'],
    ['From', 'Missing From'],
    ['To', 'Missing To'],
    ['Call-ID', 'Missing Call-ID'],
    ['CSeq', 'Missing CSeq'],
  ])('refuses a request without %s', (name, reason) => {
    expect(validateRequest(request(message([], 'x', [name])))).toEqual({ status: 400, reason });
  });

  it.each([
    [['CSeq: 1 OPTIONS'], ['CSeq'], 'CSeq method does not match request method'],
    [['CSeq: 2147483648 MESSAGE'], ['CSeq'], 'Malformed CSeq header'],
    [['CSeq: one MESSAGE'], ['CSeq'], 'Malformed CSeq header'],
    [['From: Bell, Alexander <sip:a@h>;tag=1'], ['From'], 'Malformed From header'],
    [['To: "unterminated <sip:b@h>'], ['To'], 'Malformed To header'],
    [['To: < sip:b@h >'], ['To'], 'Malformed To header'],
    [['Max-Forwards: seventy'], ['Max-Forwards'], 'Max-Forwards is not a number'],
    [['Max-Forwards: 256'], ['Max-Forwards'], 'Max-Forwards out of range'],
    [['Via: SIP/2.0/UDP h;;'], ['Via'], 'Malformed Via header'],
    [['Via: SIP/2.0/UDP h;branch=z9hG4bK'], ['Via'], 'Malformed Via branch'],
    [['Call-ID: has space'], ['Call-ID'], 'Malformed Call-ID'],
    [['Call-ID: a@b', 'Call-ID: c@d'], ['Call-ID'], 'Multiple Call-ID headers'],
    [['Contact: sip:a@h?Route=x'], [], 'Malformed Contact header'],
    [['Contact: *'], [], 'Malformed Contact header'],
    [['Date: Fri, 01 Jan 2010 16:00:00 EST'], [], 'Malformed Date header'],
    [['Content-Type: text'], ['Content-Type'], 'Malformed Content-Type header'],
  ])('refuses %j with 400', (extra, without, reason) => {
    expect(validateRequest(request(message(extra, 'x', without)))).toEqual({ status: 400, reason });
  });

  it('refuses a negative or doubled Content-Length', () => {
    const lines = MESSAGE_HEADERS.concat('Content-Length: -1');
    expect(validateRequest(request(datagram(lines, '')))).toEqual({
      status: 400,
      reason: 'Malformed Content-Length',
    });
    const doubled = MESSAGE_HEADERS.concat('Content-Length: 1', 'Content-Length: 1');
    expect(validateRequest(request(datagram(doubled, 'x')))).toEqual({
      status: 400,
      reason: 'Multiple Content-Length headers',
    });
  });

  it.each([
    ['MESSAGE <sip:bob@example.com> SIP/2.0', 400, 'Bad Request-URI'],
    ['MESSAGE sip:bob@example.com;lr=x y SIP/2.0', 400, 'Bad Request-URI'],
    ['MESSAGE sip:bob@example.com?Route=%3Csip:x%3E SIP/2.0', 400, 'Bad Request-URI'],
    ['MESSAGE  sip:bob@example.com SIP/2.0', 400, 'Malformed Request-Line'],
    ['MESSAGE sip:bob@example.com SIP/2.0 ', 400, 'Malformed Request-Line'],
    ['MESSAGE sip:bob@example.com SIP/3.0', 505, 'Version Not Supported'],
    ['MESSAGE tel:+15551234567 SIP/2.0', 416, 'Unsupported URI Scheme'],
    ['MESSAGE im:bob@example.com SIP/2.0', 416, 'Unsupported URI Scheme'],
  ])('answers %j with %i', (requestLine, status, reason) => {
    const lines = [requestLine, ...MESSAGE_HEADERS.slice(1), 'Content-Length: 0'];
    expect(validateRequest(request(datagram(lines)))).toEqual({ status, reason });
  });

  it('accepts a sips Request-URI and a "*" Contact on REGISTER', () => {
    const lines = [
      'REGISTER sips:example.com SIP/2.0',
      'Via: SIP/2.0/TCP h;branch=z9hG4bKreg',
      'To: <sip:a@example.com>',
      'From: <sip:a@example.com>;tag=1',
      'Call-ID: r@h',
      'CSeq: 2 REGISTER',
      'Contact: *',
      'Expires: 0',
      'Content-Length: 0',
    ];
    expect(validateRequest(request(datagram(lines)))).toBeNull();
  });

  it('knows when a refused request can still be answered (RFC 4475 §3.3.1: even without Call-ID)', () => {
    expect(canAnswer(request(message([], 'x', ['Call-ID', 'From', 'To'])))).toBe(true);
    expect(canAnswer(request(message([], 'x', ['Via'])))).toBe(false);
    const ack = request(datagram(['ACK sip:b@h SIP/2.0', ...MESSAGE_HEADERS.slice(1)]));
    expect(canAnswer(ack)).toBe(false);
  });
});

describe('validateResponse', () => {
  const lines = [
    'SIP/2.0 200 OK',
    'Via: SIP/2.0/UDP h;branch=z9hG4bK1',
    'From: <sip:a@h>;tag=1',
    'To: <sip:b@h>;tag=2',
    'Call-ID: c@h',
    'CSeq: 1 MESSAGE',
  ];

  it('accepts a complete response', () => {
    expect(validateResponse(response(datagram([...lines, 'Content-Length: 0'])))).toBeNull();
  });

  it('discards a response with an overlarge CSeq or a body shorter than Content-Length', () => {
    const cseq = lines.map((line) =>
      line.startsWith('CSeq') ? 'CSeq: 9292394834772304023312 MESSAGE' : line,
    );
    expect(validateResponse(response(datagram(cseq)))).toBe('Malformed CSeq');
    expect(validateResponse(response(datagram([...lines, 'Content-Length: 10'], 'short')))).toBe(
      'Content-Length larger than body',
    );
  });

  it('reads once what the client transaction matches by: the top Via and the CSeq', () => {
    const read = readResponse(response(datagram([...lines, 'Content-Length: 0'])));
    expect('response' in read && read.response.topVia.params.branch).toBe('z9hG4bK1');
    expect('response' in read && read.response.cseq).toMatchObject({ seq: 1, method: 'MESSAGE' });
    const noVia = readResponse(response(datagram(lines.filter((line) => !line.startsWith('Via')))));
    expect(noVia).toEqual({ problem: 'Missing Via' });
  });
});
