// SIP message model (RFC 3261 §7) and header access helpers.
//
// Header names are stored in their canonical long form, lower-cased, so lookups never
// have to care about case or compact forms (§7.3.1, §7.3.3). Values are unfolded and
// trimmed; bodies stay raw bytes and are never decoded here.
import { trimLws } from '../../shared/sip/grammar.ts';
import type { CSeq } from './cseq.ts';
import type { NameAddr } from './name-addr.ts';
import type { Via } from './via.ts';

// The parse error and SIP's white space are the grammar's (shared/sip/grammar.ts).
export { SipParseError, trimLws } from '../../shared/sip/grammar.ts';

export interface SipHeader {
  /** Canonical long form, lower-case: 'via', 'from', 'content-type', 'x-unknown'. */
  name: string;
  /** Unfolded (each fold became one SP) and trimmed. */
  value: string;
}

export interface SipRequest {
  kind: 'request';
  method: string;
  /** The Request-URI exactly as received; `validateRequest` checks it. */
  uri: string;
  /** The SIP-Version exactly as received, e.g. 'SIP/2.0'. */
  version: string;
  headers: SipHeader[];
  body: Buffer;
}

/**
 * A request as the edge reads it (edge/sip/parser.ts `readRequest`): validated once, and what the
 * transaction layer, the registrar and the handlers need parsed once, next to the raw message.
 */
export interface ReceivedRequest extends SipRequest {
  callId: string;
  cseq: CSeq;
  from: NameAddr;
  to: NameAddr;
  /** The top Via, as stamped with received/rport (edge/transport.ts `stampReceived`). */
  topVia: Via;
  /** Every Contact, in order; empty with none or with the wildcard. */
  contacts: readonly NameAddr[];
  /** `Contact: *`, the sole Contact of a REGISTER that removes every binding. */
  contactWildcard: boolean;
}

export interface SipResponse {
  kind: 'response';
  status: number;
  reason: string;
  version: string;
  headers: SipHeader[];
  body: Buffer;
}

/** A response as read once (edge/sip/parser.ts `readResponse`): what its transaction matches it by. */
export interface ReceivedResponse extends SipResponse {
  topVia: Via;
  cseq: CSeq;
}

export type SipMessage = SipRequest | SipResponse;

/** Anything with headers: a request, a response, or a header list under construction. */
export interface HasHeaders {
  headers: readonly SipHeader[];
}

// RFC 3261 §7.3.3 plus the compact forms registered since (IANA "Header Fields").
const COMPACT_FORMS: ReadonlyMap<string, string> = new Map([
  ['a', 'accept-contact'],
  ['b', 'referred-by'],
  ['c', 'content-type'],
  ['d', 'request-disposition'],
  ['e', 'content-encoding'],
  ['f', 'from'],
  ['i', 'call-id'],
  ['j', 'reject-contact'],
  ['k', 'supported'],
  ['l', 'content-length'],
  ['m', 'contact'],
  ['o', 'event'],
  ['r', 'refer-to'],
  ['s', 'subject'],
  ['t', 'to'],
  ['u', 'allow-events'],
  ['v', 'via'],
  ['x', 'session-expires'],
  ['y', 'identity'],
]);

/** Canonical long, lower-case name for a header name in any case or compact form. */
export function expandCompact(name: string): string {
  const lower = name.toLowerCase();
  return lower.length === 1 ? (COMPACT_FORMS.get(lower) ?? lower) : lower;
}

// Header fields whose grammar is a comma-separated list (RFC 3261 §7.3.1: only these may
// be combined into one line or split across several). Date, Authorization, WWW-Authenticate
// and friends contain commas but are not lists, so they are deliberately absent.
const LIST_HEADERS: ReadonlySet<string> = new Set([
  'accept',
  'accept-contact',
  'accept-encoding',
  'accept-language',
  'alert-info',
  'allow',
  'allow-events',
  'call-info',
  'contact',
  'content-encoding',
  'content-language',
  'error-info',
  'in-reply-to',
  'path',
  'proxy-require',
  'record-route',
  'reject-contact',
  'require',
  'route',
  'service-route',
  'supported',
  'unsupported',
  'via',
  'warning',
]);

// How we write the names we know (RFC 3261 §20 spelling); others get Each-Word-Capitalized.
const DISPLAY_NAMES = new Map<string, string>([
  ['call-id', 'Call-ID'],
  ['cseq', 'CSeq'],
  ['www-authenticate', 'WWW-Authenticate'],
  ['mime-version', 'MIME-Version'],
  ['rack', 'RAck'],
  ['rseq', 'RSeq'],
  ['sip-etag', 'SIP-ETag'],
  ['sip-if-match', 'SIP-If-Match'],
  ['p-asserted-identity', 'P-Asserted-Identity'],
]);

/** The conventional spelling of a canonical header name, for writing it on the wire. */
export function headerDisplayName(name: string): string {
  return DISPLAY_NAMES.get(name) ?? capitalizeWords(name);
}

function capitalizeWords(name: string): string {
  let display = '';
  let upper = true;
  for (const ch of name) {
    display += upper ? ch.toUpperCase() : ch;
    upper = ch === '-';
  }
  return display;
}

// Precomputed so that writing the usual headers costs a map lookup.
for (const name of [
  'via',
  'from',
  'to',
  'contact',
  'content-type',
  'content-length',
  'max-forwards',
  'server',
  'user-agent',
  'allow',
  'supported',
  'require',
  'expires',
  'route',
  'record-route',
  'date',
  'event',
  'subscription-state',
  'retry-after',
  'warning',
  'accept',
  'timestamp',
  'unsupported',
]) {
  DISPLAY_NAMES.set(name, capitalizeWords(name));
}

export function isListHeader(name: string): boolean {
  return LIST_HEADERS.has(expandCompact(name));
}

/** First value of a header (long or compact name, any case), or undefined. */
export function getHeader(msg: HasHeaders, name: string): string | undefined {
  const wanted = expandCompact(name);
  for (const header of msg.headers) {
    if (header.name === wanted) return header.value;
  }
  return undefined;
}

/**
 * All values of a header in order. List headers (Via, Contact, Allow, …) are split on the
 * commas that separate elements, so "Via: a, b" and two Via lines give the same result.
 * Empty elements are kept (as '') so a validator can refuse them (RFC 4475 §3.1.2.1).
 */
export function getHeaders(msg: HasHeaders, name: string): string[] {
  const wanted = expandCompact(name);
  const split = LIST_HEADERS.has(wanted);
  const values: string[] = [];
  for (const header of msg.headers) {
    if (header.name !== wanted) continue;
    if (split) {
      for (const element of splitList(header.value)) values.push(element);
    } else {
      values.push(header.value);
    }
  }
  return values;
}

/** Number of header lines with this name (duplicates of single-valued headers are errors). */
export function countHeaders(msg: HasHeaders, name: string): number {
  const wanted = expandCompact(name);
  let count = 0;
  for (const header of msg.headers) {
    if (header.name === wanted) count++;
  }
  return count;
}

/**
 * Splits a list header value on the commas that separate elements. Commas inside a quoted
 * string (display names, with backslash escapes) or inside <...> (URIs) are not separators.
 */
export function splitList(value: string): string[] {
  if (!value.includes(',')) return [trimLws(value)];
  const elements: string[] = [];
  let start = 0;
  let inQuotes = false;
  let inAngles = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value.charCodeAt(i);
    if (inQuotes) {
      if (ch === 0x5c /* \ */) i++;
      else if (ch === 0x22 /* " */) inQuotes = false;
    } else if (ch === 0x22) {
      inQuotes = true;
    } else if (ch === 0x3c /* < */) {
      inAngles = true;
    } else if (ch === 0x3e /* > */) {
      inAngles = false;
    } else if (ch === 0x2c /* , */ && !inAngles) {
      elements.push(trimLws(value.slice(start, i)));
      start = i + 1;
    }
  }
  elements.push(trimLws(value.slice(start)));
  return elements;
}
