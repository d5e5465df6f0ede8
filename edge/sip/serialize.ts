// Writing SIP messages (RFC 3261 §7) and building responses to requests (§8.2.6).

import {
  getHeader,
  headerDisplayName,
  type ReceivedRequest,
  type SipHeader,
  type SipRequest,
  type SipResponse,
} from './message.ts';
import { parseNameAddr } from './name-addr.ts';
import { randomHex } from './random.ts';

/** Request-line, headers, a Content-Length computed from the body, the empty line, the body. */
export function serializeRequest(req: SipRequest): Buffer {
  return serialize(`${req.method} ${req.uri} ${req.version}`, req.headers, req.body);
}

export function serializeResponse(res: SipResponse): Buffer {
  return serialize(`${res.version} ${res.status} ${res.reason}`, res.headers, res.body);
}

// A CR or LF inside a start-line or a value would let that value inject header lines.
const LINE_BREAK = /[\r\n]/;

function serialize(startLine: string, headers: readonly SipHeader[], body: Buffer): Buffer {
  if (LINE_BREAK.test(startLine)) throw new TypeError('SIP start-line contains a line break');
  let head = `${startLine}\r\n`;
  for (const header of headers) {
    // Content-Length is always written from the actual body, so it can never lie.
    if (header.name === 'content-length') continue;
    if (LINE_BREAK.test(header.value)) throw new TypeError(`SIP header ${header.name} contains a line break`);
    head += `${headerDisplayName(header.name)}: ${header.value}\r\n`;
  }
  head += `Content-Length: ${body.length}\r\n\r\n`;
  const headLength = Buffer.byteLength(head);
  const bytes = Buffer.allocUnsafe(headLength + body.length);
  bytes.write(head, 0, 'utf8');
  body.copy(bytes, headLength);
  return bytes;
}

export interface ResponseOptions {
  headers?: SipHeader[];
  body?: Buffer;
  /** To tag for the response; a random one is generated when the request's To has none. */
  toTag?: string;
}

const SERVER: SipHeader = { name: 'server', value: 'Holdover' };
const EMPTY = Buffer.alloc(0);

/**
 * Builds a response to `req` per RFC 3261 §8.2.6: Via values (in order), From, To, Call-ID and
 * CSeq are copied; the To gets a tag unless it has one or the response is 100 Trying (§8.2.6.2);
 * a 100 also echoes Timestamp (§8.2.6.1). `Server: Holdover` identifies us.
 */
export function buildResponse(
  req: SipRequest | ReceivedRequest,
  status: number,
  reason: string,
  opts: ResponseOptions = {},
): SipResponse {
  const headers: SipHeader[] = [];
  for (const header of req.headers) {
    if (header.name === 'via') headers.push(header);
  }
  const from = getHeader(req, 'from');
  if (from !== undefined) headers.push({ name: 'from', value: from });
  const to = getHeader(req, 'to');
  if (to !== undefined) {
    // a request read once knows its To tag; a refused one's To is looked at here
    const tagged = 'topVia' in req ? req.to.params.tag !== undefined : hasTag(to);
    const needsTag = status !== 100 && !tagged;
    headers.push({ name: 'to', value: needsTag ? `${to};tag=${opts.toTag ?? newTag()}` : to });
  }
  for (const name of ['call-id', 'cseq'] as const) {
    const value = getHeader(req, name);
    if (value !== undefined) headers.push({ name, value });
  }
  if (status === 100) {
    const timestamp = getHeader(req, 'timestamp');
    if (timestamp !== undefined) headers.push({ name: 'timestamp', value: timestamp });
  }
  if (opts.headers) {
    for (const header of opts.headers) headers.push(header);
  }
  headers.push(SERVER);
  return { kind: 'response', status, reason, version: 'SIP/2.0', headers, body: opts.body ?? EMPTY };
}

function hasTag(to: string): boolean {
  try {
    return parseNameAddr(to).params.tag !== undefined;
  } catch {
    // An unparsable To (we may be answering 400 because of it) is copied as received.
    return /;\s*tag\s*=/i.test(to);
  }
}

/** A To tag: 64 random bits (RFC 3261 §19.3 asks for at least 32). */
export function newTag(): string {
  return randomHex(8);
}
