// Parsing SIP messages from bytes (RFC 3261 §7, §18.3) and the checks a UAS makes before
// acting on a request (§8.2). Framing problems throw SipParseError; a message that frames
// but breaks the grammar is returned as is, and `validateRequest` says how to refuse it, so
// the peer gets a 400 it can read instead of silence.

import { isToken } from '../../shared/sip/grammar.ts';
import { parseUri } from '../../shared/sip/uri.ts';
import { type CSeq, parseCSeq } from './cseq.ts';
import {
  countHeaders,
  expandCompact,
  getHeader,
  getHeaders,
  headerDisplayName,
  type ReceivedRequest,
  type ReceivedResponse,
  type SipHeader,
  type SipMessage,
  SipParseError,
  type SipRequest,
  type SipResponse,
  trimLws,
} from './message.ts';
import { type NameAddr, parseNameAddr } from './name-addr.ts';
import { parseVia, type Via } from './via.ts';

export { SipParseError } from './message.ts';

const LF = 0x0a;
const CR = 0x0d;
const EMPTY = Buffer.alloc(0);

/** Index of the first byte that is not CR or LF (RFC 3261 §7.5: CRLFs before a start-line are ignored). */
export function skipLineBreaks(bytes: Buffer, from: number): number {
  let i = from;
  while (i < bytes.length && (bytes[i] === CR || bytes[i] === LF)) i++;
  return i;
}

export interface HeadBoundary {
  /** End of the last header line (its line break excluded). */
  headEnd: number;
  /** First byte of the body. */
  bodyStart: number;
}

/** Finds the empty line ending the header section (CRLF CRLF, tolerating bare LFs). */
export function findHeadEnd(bytes: Buffer, from: number): HeadBoundary | null {
  let lf = bytes.indexOf(LF, from);
  while (lf >= 0) {
    const next = bytes[lf + 1];
    if (next === LF) return { headEnd: lf, bodyStart: lf + 2 };
    if (next === CR && bytes[lf + 2] === LF) return { headEnd: lf, bodyStart: lf + 3 };
    lf = bytes.indexOf(LF, lf + 1);
  }
  return null;
}

const STATUS_LINE = /^(SIP\/[0-9]+\.[0-9]+) ([1-6][0-9]{2})(?: (.*))?$/i;
const ENDS_WITH_SIP_VERSION = /SIP\/[0-9]+\.[0-9]+ *$/i;

/**
 * Parses the start-line and header fields in bytes[start, end). The returned message has an
 * empty body; the caller frames the body. Throws SipParseError when the text cannot be a SIP
 * header section at all.
 */
export function parseHead(bytes: Buffer, start: number, end: number): SipMessage {
  const lines = bytes.toString('utf8', start, end).split('\n');
  const startLine = stripCr(lines[0] ?? '');
  const headers: SipHeader[] = [];
  let current: SipHeader | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = stripCr(lines[i] ?? '');
    if (line === '') continue; // only possible as the final line of an unterminated datagram
    const first = line.charCodeAt(0);
    if (first === 0x20 || first === 0x09) {
      // Folded continuation (§7.3.1): the line break and leading whitespace count as one SP.
      if (!current) throw new SipParseError('Continuation line before any header');
      current.value += ` ${trimLws(line)}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new SipParseError('Malformed header line');
    const name = trimLws(line.slice(0, colon));
    if (!isToken(name)) throw new SipParseError('Malformed header name');
    current = { name: expandCompact(name), value: line.slice(colon + 1) };
    headers.push(current);
  }
  for (const header of headers) header.value = trimLws(header.value);

  if (/^SIP\//i.test(startLine)) {
    const status = STATUS_LINE.exec(startLine);
    if (!status?.[1] || !status[2]) throw new SipParseError('Malformed Status-Line');
    return {
      kind: 'response',
      status: Number(status[2]),
      reason: status[3] ?? '',
      version: status[1],
      headers,
      body: EMPTY,
    };
  }
  // Method SP Request-URI SP SIP-Version. The URI and version are cut at the first and the
  // last SP and kept as received, so that extra spaces (RFC 4475 §3.1.2.8–3.1.2.10) reach
  // validateRequest and earn a 400 rather than being silently repaired or dropped.
  const firstSp = startLine.indexOf(' ');
  const lastSp = startLine.lastIndexOf(' ');
  if (firstSp <= 0 || lastSp === firstSp || !ENDS_WITH_SIP_VERSION.test(startLine)) {
    throw new SipParseError('Not a SIP start-line');
  }
  const method = startLine.slice(0, firstSp);
  if (!isToken(method)) throw new SipParseError('Malformed method');
  return {
    kind: 'request',
    method,
    uri: startLine.slice(firstSp + 1, lastSp),
    version: startLine.slice(lastSp + 1),
    headers,
    body: EMPTY,
  };
}

function stripCr(line: string): string {
  const trimmed = line.endsWith('\r') ? line.slice(0, -1) : line;
  // A CR that does not end a line is no line terminator SIP knows; letting it through would
  // allow header injection when the value is copied into a response.
  if (trimmed.includes('\r')) throw new SipParseError('Bare CR in header section');
  return trimmed;
}

/**
 * Parses one datagram (RFC 3261 §18.3, message-oriented transport): bytes past
 * Content-Length are discarded; with no Content-Length the body is the rest of the
 * datagram. A body shorter than Content-Length is kept as received and reported by
 * validateRequest/validateResponse.
 */
export function parseMessage(bytes: Buffer): SipMessage {
  const start = skipLineBreaks(bytes, 0);
  if (start === bytes.length) throw new SipParseError('No message, only line breaks');
  const boundary = findHeadEnd(bytes, start);
  const headEnd = boundary?.headEnd ?? bytes.length;
  const bodyStart = boundary?.bodyStart ?? bytes.length;
  const message = parseHead(bytes, start, headEnd);
  const available = bytes.length - bodyStart;
  let bodyLength = available;
  const declared =
    countHeaders(message, 'content-length') === 1 ? getHeader(message, 'content-length') : undefined;
  if (declared !== undefined && DIGITS.test(declared)) {
    bodyLength = Math.min(Number(declared), available);
  }
  message.body = bodyLength === 0 ? EMPTY : bytes.subarray(bodyStart, bodyStart + bodyLength);
  return message;
}

export interface Rejection {
  status: number;
  reason: string;
}

const DIGITS = /^[0-9]+$/;
const SIP_VERSION = /^SIP\/[0-9]+\.[0-9]+$/i;
// word [ "@" word ] (RFC 3261 §25.1)
const CALL_ID = /^[A-Za-z0-9\-.!%*_+`'~()<>:\\"/[\]?{}]+(?:@[A-Za-z0-9\-.!%*_+`'~()<>:\\"/[\]?{}]+)?$/;
const RFC1123_GMT =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$/;
const MEDIA_TYPE = /^[A-Za-z0-9\-.!%*_+`'~]+\/[A-Za-z0-9\-.!%*_+`'~]+[ \t]*(;.*)?$/;
const MANDATORY = ['via', 'from', 'to', 'call-id', 'cseq'] as const;
const SINGLE_VALUED = [
  'from',
  'to',
  'call-id',
  'cseq',
  'max-forwards',
  'content-length',
  'content-type',
] as const;
const SUPPORTED_SCHEMES = new Set(['sip', 'sips']);

function badRequest(reason: string): Rejection {
  return { status: 400, reason };
}

/**
 * The checks a UAS makes before processing a request (RFC 3261 §8.2, RFC 4475 §3.1.2):
 * returns the error response to send, or null when the request is fine to hand on.
 * Max-Forwards 0 is accepted: it limits forwarding, and a UAS answers such a request
 * itself (RFC 3261 §11, RFC 4475 §3.3.11).
 */
export function validateRequest(req: SipRequest): Rejection | null {
  const read = readRequest(req);
  return 'rejection' in read ? read.rejection : null;
}

/**
 * Validates `req` as `validateRequest` does and, while at it, parses what the transaction layer,
 * the registrar and the handlers read (Call-ID, CSeq, From, To, the top Via, the Contacts) into
 * the request's one typed view: nothing downstream parses them again.
 */
export function readRequest(req: SipRequest): { request: ReceivedRequest } | { rejection: Rejection } {
  const refuse = (rejection: Rejection) => ({ rejection });
  if (
    !SIP_VERSION.test(req.version) ||
    !isToken(req.method) ||
    req.uri === '' ||
    req.uri !== trimLws(req.uri)
  ) {
    return refuse(badRequest('Malformed Request-Line'));
  }
  if (req.version.toUpperCase() !== 'SIP/2.0')
    return refuse({ status: 505, reason: 'Version Not Supported' });

  const uriRejection = checkRequestUri(req.uri);
  if (uriRejection) return refuse(uriRejection);

  for (const name of MANDATORY) {
    if (countHeaders(req, name) === 0) return refuse(badRequest(`Missing ${headerDisplayName(name)}`));
  }
  for (const name of SINGLE_VALUED) {
    if (countHeaders(req, name) > 1) return refuse(badRequest(`Multiple ${headerDisplayName(name)} headers`));
  }

  const vias = readVias(getHeaders(req, 'via'));
  if ('status' in vias) return refuse(vias);
  const from = nameAddrWithUri(getHeader(req, 'from') ?? '');
  if (from === undefined) return refuse(badRequest('Malformed From header'));
  const to = nameAddrWithUri(getHeader(req, 'to') ?? '');
  if (to === undefined) return refuse(badRequest('Malformed To header'));
  const callId = getHeader(req, 'call-id') ?? '';
  if (!CALL_ID.test(callId)) return refuse(badRequest('Malformed Call-ID'));

  let cseq: CSeq;
  try {
    cseq = parseCSeq(getHeader(req, 'cseq') ?? '');
  } catch {
    return refuse(badRequest('Malformed CSeq header'));
  }
  if (cseq.method !== req.method) return refuse(badRequest('CSeq method does not match request method'));

  const maxForwards = getHeader(req, 'max-forwards');
  if (maxForwards !== undefined) {
    if (!DIGITS.test(maxForwards)) return refuse(badRequest('Max-Forwards is not a number'));
    if (Number(maxForwards) > 255) return refuse(badRequest('Max-Forwards out of range'));
  }

  const lengthRejection = checkContentLength(getHeader(req, 'content-length'), req.body.length);
  if (lengthRejection) return refuse(badRequest(lengthRejection));

  const contentType = getHeader(req, 'content-type');
  if (contentType !== undefined && !MEDIA_TYPE.test(contentType)) {
    return refuse(badRequest('Malformed Content-Type header'));
  }

  const contactValues = getHeaders(req, 'contact');
  // "*" only as the sole Contact of a REGISTER (RFC 3261 §10.2.2).
  const contactWildcard = contactValues.length === 1 && contactValues[0] === '*' && req.method === 'REGISTER';
  const contacts: NameAddr[] = [];
  if (!contactWildcard) {
    for (const value of contactValues) {
      const contact = nameAddrWithUri(value);
      if (contact === undefined) return refuse(badRequest('Malformed Contact header'));
      contacts.push(contact);
    }
  }

  const date = getHeader(req, 'date');
  if (date !== undefined && !RFC1123_GMT.test(date)) return refuse(badRequest('Malformed Date header'));
  return { request: { ...req, callId, cseq, from, to, topVia: vias.top, contacts, contactWildcard } };
}

function checkRequestUri(uri: string): Rejection | null {
  const colon = uri.indexOf(':');
  const scheme = colon > 0 ? uri.slice(0, colon).toLowerCase() : '';
  let headerCount: number;
  try {
    headerCount = Object.keys(parseUri(uri).headers).length;
  } catch {
    return badRequest('Bad Request-URI');
  }
  if (!SUPPORTED_SCHEMES.has(scheme)) return { status: 416, reason: 'Unsupported URI Scheme' };
  // Headers are not allowed in a Request-URI (RFC 3261 §19.1.1 table, RFC 4475 §3.1.2.11).
  if (headerCount > 0) return badRequest('Bad Request-URI');
  return null;
}

/** Every Via must parse; the top one must be SIP/2.0 with a usable branch. Returns the top one. */
function readVias(vias: readonly string[]): { top: Via } | Rejection {
  let top: Via | undefined;
  for (const value of vias) {
    let via: Via;
    try {
      via = parseVia(value);
    } catch {
      return badRequest('Malformed Via header');
    }
    if (top === undefined) {
      if (via.protocol !== 'SIP/2.0') return badRequest('Malformed Via header');
      const branch = via.params.branch;
      // A bare magic cookie promises an RFC 3261 branch and carries none (RFC 4475 §3.2.1).
      if (branch === null || branch === '' || branch === 'z9hG4bK') return badRequest('Malformed Via branch');
      top = via;
    }
  }
  return top === undefined ? badRequest('Missing Via') : { top };
}

/** A name-addr whose URI parses, or undefined. */
function nameAddrWithUri(value: string): NameAddr | undefined {
  try {
    const nameAddr = parseNameAddr(value);
    parseUri(nameAddr.uri);
    return nameAddr;
  } catch {
    return undefined;
  }
}

function checkContentLength(declared: string | undefined, bodyLength: number): string | null {
  if (declared === undefined) return null;
  if (!DIGITS.test(declared)) return 'Malformed Content-Length';
  const length = Number(declared);
  if (length > bodyLength) return 'Content-Length larger than body';
  if (length < bodyLength) return 'Content-Length smaller than body';
  return null;
}

/**
 * Checks a response before it is matched to a client transaction; a response that fails
 * is discarded (RFC 3261 §18.1.2, §18.3). Returns the reason, or null when it is usable.
 */
export function validateResponse(res: SipResponse): string | null {
  const read = readResponse(res);
  return 'problem' in read ? read.problem : null;
}

/**
 * Validates `res` as `validateResponse` does and keeps what the client transaction matches it by
 * (the top Via's branch, the CSeq method, RFC 3261 §17.1.3) in its typed view: read once.
 */
export function readResponse(res: SipResponse): { response: ReceivedResponse } | { problem: string } {
  if (res.version.toUpperCase() !== 'SIP/2.0') return { problem: 'Unsupported SIP version' };
  for (const name of MANDATORY) {
    if (countHeaders(res, name) === 0) return { problem: `Missing ${headerDisplayName(name)}` };
  }
  for (const name of SINGLE_VALUED) {
    if (countHeaders(res, name) > 1) return { problem: `Multiple ${headerDisplayName(name)} headers` };
  }
  let topVia: Via;
  let cseq: CSeq;
  try {
    topVia = parseVia(getHeaders(res, 'via')[0] ?? '');
    cseq = parseCSeq(getHeader(res, 'cseq') ?? '');
  } catch (error) {
    return { problem: error instanceof SipParseError ? error.reason : 'Malformed response' };
  }
  const problem = checkContentLength(getHeader(res, 'content-length'), res.body.length);
  return problem ? { problem } : { response: { ...res, topVia, cseq } };
}

/**
 * True when a refused request can still be answered: it has a Via, which is what a client
 * transaction matches a response by (with the CSeq method, RFC 3261 §17.1.3), and it is not
 * an ACK, which never gets a response. Missing From/To/Call-ID do not stop the 400 that
 * RFC 4475 §3.3.1 asks for; the response simply lacks them too.
 */
export function canAnswer(req: SipRequest): boolean {
  return req.method !== 'ACK' && countHeaders(req, 'via') > 0;
}
