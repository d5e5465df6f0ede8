// Property tests: whatever bytes arrive, the SIP layer answers with a message or a
// SipParseError, never another exception, and what we write we read back identically.

import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { SipStreamFramer } from '../../edge/sip/framer.ts';
import { type SipHeader, type SipMessage, SipParseError, type SipRequest } from '../../edge/sip/message.ts';
import { canAnswer, parseMessage, readRequest, validateResponse } from '../../edge/sip/parser.ts';
import { buildResponse, serializeRequest, serializeResponse } from '../../edge/sip/serialize.ts';
import { ServerTransactions } from '../../edge/transactions.ts';
import { stampReceived, stampReceivedRequest } from '../../edge/transport.ts';

const FIXTURE_DIR = new URL('../fixtures/rfc4475/', import.meta.url);
const FIXTURES = readdirSync(FIXTURE_DIR)
  .filter((name) => name.endsWith('.dat'))
  .map((name) => readFileSync(new URL(name, FIXTURE_DIR)));

const VALID_MESSAGE = Buffer.from(
  [
    'MESSAGE sip:bob@example.com SIP/2.0',
    'Via: SIP/2.0/UDP client.example.net:5060;branch=z9hG4bK776asdhds;rport',
    'Max-Forwards: 70',
    'To: "Bob, B." <sip:bob@example.com>',
    'From: Alice <sip:alice@example.net>;tag=49583',
    'Call-ID: asd88asd77a@1.2.3.4',
    'CSeq: 1 MESSAGE',
    'Content-Type: text/plain;charset=UTF-8',
    'Content-Length: 11',
    '',
    'Hello 👋!',
  ].join('\r\n'),
);
const SEEDS = [VALID_MESSAGE, ...FIXTURES];

const RUNS = { numRuns: 400 };
const transactions = new ServerTransactions();
afterAll(() => transactions.close());

/** Parses; any exception other than SipParseError fails the property. */
function parseOrReject(bytes: Buffer): SipMessage | undefined {
  try {
    return parseMessage(bytes);
  } catch (error) {
    if (error instanceof SipParseError) return undefined;
    throw error;
  }
}

/** What the server does with a parsed message; none of it may throw. */
function processLikeTheServer(message: SipMessage): void {
  if (message.kind === 'response') {
    validateResponse(message);
    return;
  }
  const read = readRequest(message);
  if ('rejection' in read) {
    const { rejection } = read;
    const req = stampReceived(message, '127.0.0.1', 5060);
    if (canAnswer(req)) serializeResponse(buildResponse(req, rejection.status, rejection.reason));
    return;
  }
  const req = stampReceivedRequest(read.request, '127.0.0.1', 5060);
  transactions.receive(req, false);
  serializeResponse(buildResponse(req, 202, 'Accepted'));
}

// Pieces of SIP syntax, so random input often gets past the first line.
const FRAGMENT = fc.constantFrom(
  'MESSAGE sip:a@b SIP/2.0\r\n',
  'SIP/2.0 200 OK\r\n',
  'INVITE ',
  ' SIP/2.0',
  'Via: SIP/2.0/UDP h;branch=z9hG4bK',
  'v: ',
  'From: "a\\"b" <sip:x@y>;tag=',
  'To: <sip:',
  'Call-ID: ',
  'CSeq: 1 MESSAGE',
  'Content-Length: ',
  'l: 5',
  '\r\n',
  '\n',
  '\r\n\r\n',
  ' ',
  '\t',
  ';',
  ',',
  '"',
  '<',
  '>',
  '%',
  '%00',
  ':',
  '@',
  '\r',
  '\u0000',
  '2147483648',
);
const SIP_ISH = fc
  .array(fc.oneof(FRAGMENT, fc.string({ maxLength: 8 }), fc.string({ unit: 'grapheme', maxLength: 4 })), {
    maxLength: 60,
  })
  .map((parts) => Buffer.from(parts.join(''), 'utf8'));

type Mutation =
  | { kind: 'flip'; at: number; byte: number }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'truncate'; at: number }
  | { kind: 'duplicate'; at: number; length: number };

const MUTATION: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 12 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('duplicate' as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 40 }),
  }),
);

function mutate(seed: Buffer, mutations: Mutation[]): Buffer {
  let bytes = seed;
  for (const mutation of mutations) {
    const at = bytes.length === 0 ? 0 : mutation.at % bytes.length;
    switch (mutation.kind) {
      case 'flip':
        bytes = Buffer.from(bytes);
        if (bytes.length > 0) bytes[at] = mutation.byte;
        break;
      case 'delete':
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + mutation.length)]);
        break;
      case 'insert':
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(mutation.bytes), bytes.subarray(at)]);
        break;
      case 'truncate':
        bytes = bytes.subarray(0, at);
        break;
      case 'duplicate':
        bytes = Buffer.concat([bytes.subarray(0, at + mutation.length), bytes.subarray(at)]);
        break;
    }
  }
  return bytes;
}

const MUTATED = fc
  .tuple(fc.constantFrom(...SEEDS), fc.array(MUTATION, { minLength: 1, maxLength: 6 }))
  .map(([seed, mutations]) => mutate(seed, mutations));

const ANY_BYTES = fc.oneof(
  fc.uint8Array({ maxLength: 2000 }).map((bytes) => Buffer.from(bytes)),
  SIP_ISH,
  MUTATED,
);

/** Cuts `bytes` into chunks at the given (unsorted, possibly repeated) positions. */
function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const positions = [...new Set(cuts.map((cut) => (bytes.length === 0 ? 0 : cut % bytes.length)))].sort(
    (a, b) => a - b,
  );
  const chunks: Buffer[] = [];
  let start = 0;
  for (const position of positions) {
    chunks.push(bytes.subarray(start, position));
    start = position;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

describe('parseMessage on hostile input', () => {
  it('returns a message or throws SipParseError for arbitrary bytes', () => {
    fc.assert(
      fc.property(ANY_BYTES, (bytes) => {
        const message = parseOrReject(bytes);
        expect(message === undefined || message.kind === 'request' || message.kind === 'response').toBe(true);
      }),
      RUNS,
    );
  });

  it('never makes the server pipeline throw (validate, stamp, match, answer)', () => {
    fc.assert(
      fc.property(fc.oneof(MUTATED, SIP_ISH), (bytes) => {
        const message = parseOrReject(bytes);
        if (message) processLikeTheServer(message);
      }),
      RUNS,
    );
  });

  it('never returns a body longer than the datagram or than Content-Length allows', () => {
    fc.assert(
      fc.property(MUTATED, (bytes) => {
        const message = parseOrReject(bytes);
        if (message) expect(message.body.length).toBeLessThanOrEqual(bytes.length);
      }),
      RUNS,
    );
  });
});

describe('SipStreamFramer on hostile input', () => {
  it('yields only messages or errors, whatever the bytes and however they are cut', () => {
    fc.assert(
      fc.property(ANY_BYTES, fc.array(fc.nat(), { maxLength: 10 }), (bytes, cuts) => {
        const framer = new SipStreamFramer({ maxMessageBytes: 4096 });
        for (const chunk of chunked(bytes, cuts)) {
          for (const item of framer.push(chunk)) {
            expect(item.message !== undefined || item.error instanceof SipParseError).toBe(true);
            if (item.message) processLikeTheServer(item.message);
          }
        }
      }),
      RUNS,
    );
  });

  it('frames a sequence of valid messages identically however the stream is cut', () => {
    const valid = [VALID_MESSAGE, ...FIXTURES.filter((bytes) => parseOrReject(bytes) !== undefined)];
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...valid), { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (messages, cuts) => {
          const stream = Buffer.concat(messages.flatMap((bytes) => [bytes, Buffer.from('\r\n')]));
          const whole = new SipStreamFramer().push(stream);
          const framer = new SipStreamFramer();
          const pieces = chunked(stream, cuts).flatMap((chunk) => framer.push(chunk));
          expect(pieces).toEqual(whole);
        },
      ),
      { numRuns: 200 },
    );
  });
});

// Header names that parse back to themselves: tokens, not a compact form, not Content-Length.
const HEADER_NAME = fc
  .stringMatching(/^[A-Za-z][A-Za-z0-9-]{1,20}$/)
  .map((name) => name.toLowerCase())
  .filter((name) => name !== 'content-length');
const HEADER_VALUE = fc
  .string({ unit: 'grapheme', maxLength: 40 })
  .map((value) => value.replace(/[\r\n]/g, ' ').replace(/^[ \t]+|[ \t]+$/g, ''));
const HEADER: fc.Arbitrary<SipHeader> = fc.record({ name: HEADER_NAME, value: HEADER_VALUE });

const REQUEST: fc.Arbitrary<SipRequest> = fc.record({
  kind: fc.constant('request' as const),
  method: fc.constantFrom('MESSAGE', 'OPTIONS', 'REGISTER', 'SUBSCRIBE', 'NEWMETHOD'),
  uri: fc
    .tuple(fc.stringMatching(/^[a-z0-9._-]{1,12}$/), fc.domain())
    .map(([user, host]) => `sip:${user}@${host}`),
  version: fc.constant('SIP/2.0'),
  headers: fc.array(HEADER, { maxLength: 12 }),
  body: fc.uint8Array({ maxLength: 600 }).map((bytes) => Buffer.from(bytes)),
});

describe('serialize → parse round trip', () => {
  it('keeps the request line, every header and the body bytes', () => {
    fc.assert(
      fc.property(REQUEST, (req) => {
        const parsed = parseMessage(serializeRequest(req));
        expect(parsed.kind).toBe('request');
        if (parsed.kind !== 'request') return;
        expect([parsed.method, parsed.uri, parsed.version]).toEqual([req.method, req.uri, req.version]);
        expect(parsed.headers.filter((header) => header.name !== 'content-length')).toEqual(req.headers);
        expect(parsed.body.equals(req.body)).toBe(true);
      }),
      RUNS,
    );
  });

  it('frames the serialized request the same way on a stream', () => {
    fc.assert(
      fc.property(REQUEST, fc.array(fc.nat(), { maxLength: 6 }), (req, cuts) => {
        const bytes = serializeRequest(req);
        const framer = new SipStreamFramer();
        const framed = chunked(bytes, cuts).flatMap((chunk) => framer.push(chunk));
        expect(framed).toHaveLength(1);
        expect(framed[0]?.message?.body.equals(req.body)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
