// SIP URIs, name-addr values, Via and CSeq (RFC 3261 §19.1, §20, §25.1).
//
// The character classes below are the RFC 3261 §25.1 ABNF written as regular expressions;
// anything outside them is refused rather than guessed at, so a value that passes here
// can be copied into a response without surprising the peer.

import { normalizeAor } from '../../functions/core/aor.ts';
import { SipParseError, trimLws } from './message.ts';

export interface SipUri {
  scheme: 'sip' | 'sips' | 'tel' | string;
  /** Percent-decoded user part (sip/sips), or the subscriber number (tel). */
  user?: string;
  password?: string;
  /** Lower-cased; an IPv6 reference keeps its brackets. Empty for non-SIP schemes. */
  host: string;
  port?: number;
  params: Record<string, string | null>;
  headers: Record<string, string>;
}

export interface NameAddr {
  /** Unescaped display name, if any. */
  displayName?: string;
  /** The addr-spec, as written (without the angle brackets). */
  uri: string;
  /** Header parameters (tag, expires, q, …); names lower-cased, quoted values kept quoted. */
  params: Record<string, string | null>;
}

export interface Via {
  /** 'SIP/2.0' (name and version with the surrounding whitespace removed). */
  protocol: string;
  /** Upper-cased: 'UDP', 'TCP', 'TLS', 'SCTP', or an extension. */
  transport: string;
  /** Lower-cased sent-by host; an IPv6 reference keeps its brackets. */
  host: string;
  port?: number;
  params: Record<string, string | null>;
}

export interface CSeq {
  seq: number;
  method: string;
}

const TOKEN_CHARS = "A-Za-z0-9\\-.!%*_+`'~";
const UNRESERVED = "A-Za-z0-9\\-_.!~*'()";
const ESCAPED = '%[0-9A-Fa-f]{2}';

const TOKEN = new RegExp(`^[${TOKEN_CHARS}]+$`);
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
const USER = new RegExp(`^(?:[${UNRESERVED}&=+$,;?/]|${ESCAPED})+$`);
const PASSWORD = new RegExp(`^(?:[${UNRESERVED}&=+$,]|${ESCAPED})*$`);
const PARAM_CHARS = new RegExp(`^(?:[${UNRESERVED}\\[\\]/:&+$]|${ESCAPED})+$`);
const HEADER_CHARS = new RegExp(`^(?:[${UNRESERVED}\\[\\]/?:+$]|${ESCAPED})*$`);
// uric (RFC 2396): what an absoluteURI of a scheme we do not know may contain.
const URIC = new RegExp(`^(?:[${UNRESERVED};/?:@&=+$,\\[\\]]|${ESCAPED})+$`);
const HOSTNAME =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?$/;
const IPV6_REFERENCE = /^\[[0-9A-Fa-f:.]+\]$/;
const PORT = /^[0-9]{1,5}$/;
const TEL_SUBSCRIBER = /^\+?[0-9A-Fa-f*#.()\-[\]pPwW]+$/;

/** Parses a URI. sip/sips are parsed fully; tel by RFC 3966 basics; others only checked. */
export function parseUri(text: string): SipUri {
  const schemeMatch = SCHEME.exec(text);
  if (!schemeMatch?.[1]) throw new SipParseError('URI has no scheme');
  const scheme = schemeMatch[1].toLowerCase();
  const rest = text.slice(schemeMatch[0].length);
  if (scheme === 'sip' || scheme === 'sips') return parseSipUri(scheme, rest);
  if (scheme === 'tel') return parseTelUri(rest);
  if (!URIC.test(rest)) throw new SipParseError('Malformed URI');
  return { scheme, host: '', params: {}, headers: {} };
}

interface SipUriParts {
  rawUser?: string;
  rawPassword?: string;
  host: string;
  port?: number;
  rawParams?: string;
  rawHeaders?: string;
}

function splitSipUri(rest: string): SipUriParts {
  // '@' may appear nowhere but between userinfo and host (it is in none of the user,
  // password, param or header character classes), while '?' and ';' may appear in a user
  // part (RFC 4475 §3.1.1.2), so the userinfo is cut off first.
  const at = rest.indexOf('@');
  let rawUser: string | undefined;
  let rawPassword: string | undefined;
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    rawUser = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
    if (colon >= 0) rawPassword = userinfo.slice(colon + 1);
    if (!USER.test(rawUser)) throw new SipParseError('Malformed URI user part');
    if (rawPassword !== undefined && !PASSWORD.test(rawPassword)) {
      throw new SipParseError('Malformed URI password');
    }
  }
  let hostpart = rest.slice(at + 1);
  let rawHeaders: string | undefined;
  const question = hostpart.indexOf('?');
  if (question >= 0) {
    rawHeaders = hostpart.slice(question + 1);
    hostpart = hostpart.slice(0, question);
  }
  let rawParams: string | undefined;
  const semi = hostpart.indexOf(';');
  if (semi >= 0) {
    rawParams = hostpart.slice(semi + 1);
    hostpart = hostpart.slice(0, semi);
  }
  const { host, port } = parseHostPort(hostpart);
  const parts: SipUriParts = { host };
  if (rawUser !== undefined) parts.rawUser = rawUser;
  if (rawPassword !== undefined) parts.rawPassword = rawPassword;
  if (port !== undefined) parts.port = port;
  if (rawParams !== undefined) parts.rawParams = rawParams;
  if (rawHeaders !== undefined) parts.rawHeaders = rawHeaders;
  return parts;
}

function parseSipUri(scheme: string, rest: string): SipUri {
  const parts = splitSipUri(rest);
  const uri: SipUri = {
    scheme,
    host: parts.host,
    params: parts.rawParams === undefined ? {} : parseUriParams(parts.rawParams),
    headers: parts.rawHeaders === undefined ? {} : parseUriHeaders(parts.rawHeaders),
  };
  if (parts.rawUser !== undefined) uri.user = percentDecode(parts.rawUser);
  if (parts.rawPassword !== undefined) uri.password = percentDecode(parts.rawPassword);
  if (parts.port !== undefined) uri.port = parts.port;
  return uri;
}

function parseTelUri(rest: string): SipUri {
  const semi = rest.indexOf(';');
  const subscriber = semi >= 0 ? rest.slice(0, semi) : rest;
  if (!TEL_SUBSCRIBER.test(subscriber)) throw new SipParseError('Malformed tel URI');
  const params = semi >= 0 ? parseUriParams(rest.slice(semi + 1)) : {};
  return { scheme: 'tel', user: subscriber, host: '', params, headers: {} };
}

// Parameter and header names come from the peer: they are collected in a Map and turned
// into own properties with Object.fromEntries, so '__proto__' or 'constructor' are just names.

function parseUriParams(raw: string): Record<string, string | null> {
  const params = new Map<string, string | null>();
  for (const param of raw.split(';')) {
    const eq = param.indexOf('=');
    const name = eq >= 0 ? param.slice(0, eq) : param;
    const value = eq >= 0 ? param.slice(eq + 1) : null;
    if (!PARAM_CHARS.test(name) || (value !== null && !PARAM_CHARS.test(value))) {
      throw new SipParseError('Malformed URI parameter');
    }
    const key = percentDecode(name).toLowerCase();
    if (!params.has(key)) params.set(key, value === null ? null : percentDecode(value));
  }
  return Object.fromEntries(params);
}

function parseUriHeaders(raw: string): Record<string, string> {
  const headers = new Map<string, string>();
  for (const header of raw.split('&')) {
    const eq = header.indexOf('=');
    if (eq <= 0) throw new SipParseError('Malformed URI header');
    const name = header.slice(0, eq);
    const value = header.slice(eq + 1);
    if (!HEADER_CHARS.test(name) || !HEADER_CHARS.test(value))
      throw new SipParseError('Malformed URI header');
    headers.set(percentDecode(name), percentDecode(value));
  }
  return Object.fromEntries(headers);
}

function parseHostPort(hostport: string): { host: string; port?: number } {
  let host: string;
  let portText: string | undefined;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0) throw new SipParseError('Malformed host');
    host = hostport.slice(0, close + 1);
    const after = hostport.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) throw new SipParseError('Malformed host');
      portText = after.slice(1);
    }
    if (!IPV6_REFERENCE.test(host)) throw new SipParseError('Malformed host');
  } else {
    const colon = hostport.indexOf(':');
    host = colon >= 0 ? hostport.slice(0, colon) : hostport;
    if (colon >= 0) portText = hostport.slice(colon + 1);
    if (!HOSTNAME.test(host)) throw new SipParseError('Malformed host');
  }
  if (portText === undefined) return { host: host.toLowerCase() };
  if (!PORT.test(portText)) throw new SipParseError('Malformed port');
  const port = Number(portText);
  if (port > 65535) throw new SipParseError('Malformed port');
  return { host: host.toLowerCase(), port };
}

/** Decodes %HH escapes of an already validated URI component (as UTF-8). */
function percentDecode(text: string): string {
  if (!text.includes('%')) return text;
  const bytes = Buffer.allocUnsafe(text.length);
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x25 /* % */) {
      bytes[length++] = Number.parseInt(text.slice(i + 1, i + 3), 16);
      i += 2;
    } else {
      bytes[length++] = ch;
    }
  }
  return bytes.toString('utf8', 0, length);
}

/**
 * The normalized address-of-record `sip:user@host` of a SIP or SIPS URI, by the one normaliser
 * the functions use too (functions/core/aor.ts normalizeAor: sips → sip, host lower-cased,
 * escapes of characters that need none decoded, the rest upper-case hex, port, parameters and
 * headers dropped), after this module's full RFC 3261 validation of every part.
 */
export function aorOf(uri: string): string {
  const parsed = parseUri(uri); // validates every part, not only the ones kept
  if (parsed.scheme !== 'sip' && parsed.scheme !== 'sips') throw new SipParseError('Not a SIP URI');
  if (parsed.user === undefined || parsed.user === '') throw new SipParseError('SIP URI has no user part');
  try {
    return normalizeAor(uri);
  } catch (error) {
    throw new SipParseError(error instanceof Error ? error.message : String(error));
  }
}

// Values reach this module unfolded, so linear white space is just SP and HTAB.
function isLws(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t';
}

function skipLws(text: string, from: number): number {
  let i = from;
  while (isLws(text[i])) i++;
  return i;
}

/** Index just after the closing quote of the quoted string starting at `open`. */
function endOfQuotedString(text: string, open: number): number {
  for (let i = open + 1; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x5c /* \ */) {
      i++;
    } else if (ch === 0x22 /* " */) {
      return i + 1;
    } else if (ch === 0x0d || ch === 0x0a) {
      break;
    }
  }
  throw new SipParseError('Unterminated quoted string');
}

function unquote(quoted: string): string {
  return quoted.slice(1, -1).replace(/\\([\s\S])/g, '$1');
}

/**
 * Parses a name-addr or addr-spec header value (From, To, Contact, Route, …).
 * With a bare addr-spec, everything after the first ';' is a header parameter
 * (RFC 3261 §20.10), and a URI containing ',', '?' or ';' must have been in <>.
 */
export function parseNameAddr(value: string): NameAddr {
  const start = skipLws(value, 0);
  let uri: string;
  let displayName: string | undefined;
  let rest: string;
  const first = value[start];
  if (first === '"') {
    const end = endOfQuotedString(value, start);
    displayName = unquote(value.slice(start, end));
    const lt = skipLws(value, end);
    if (value[lt] !== '<') throw new SipParseError('Display name not followed by <addr-spec>');
    ({ uri, rest } = angleAddr(value, lt));
  } else {
    // A display name made of tokens cannot contain ':', an addr-spec always does.
    const lt = value.indexOf('<', start);
    const colon = value.indexOf(':', start);
    if (lt >= 0 && (colon < 0 || lt < colon)) {
      const tokens = trimLws(value.slice(start, lt));
      if (tokens !== '') {
        for (const token of tokens.split(/[ \t]+/)) {
          if (!TOKEN.test(token)) throw new SipParseError('Malformed display name');
        }
        displayName = tokens;
      }
      ({ uri, rest } = angleAddr(value, lt));
    } else {
      const semi = value.indexOf(';', start);
      uri = trimLws(semi >= 0 ? value.slice(start, semi) : value.slice(start));
      rest = semi >= 0 ? value.slice(semi) : '';
      if (uri === '' || /[\s,?<>"]/.test(uri)) throw new SipParseError('Malformed addr-spec');
    }
  }
  const params = parseParams(rest);
  return displayName === undefined ? { uri, params } : { displayName, uri, params };
}

function angleAddr(value: string, lt: number): { uri: string; rest: string } {
  const gt = value.indexOf('>', lt + 1);
  if (gt < 0) throw new SipParseError('Unterminated <addr-spec>');
  const uri = value.slice(lt + 1, gt);
  // LAQUOT / RAQUOT allow no whitespace inside the brackets (RFC 4475 §3.1.2.14).
  if (uri === '' || /[\s<"]/.test(uri)) throw new SipParseError('Malformed <addr-spec>');
  return { uri, rest: value.slice(gt + 1) };
}

/**
 * Parses `*( SEMI generic-param )` (RFC 3261 §25.1): names lower-cased; values are a token,
 * a host or a quoted string (kept with its quotes). Empty parameters are refused.
 */
export function parseParams(text: string): Record<string, string | null> {
  const params = new Map<string, string | null>();
  let i = skipLws(text, 0);
  if (i === text.length) return {};
  if (text[i] !== ';') throw new SipParseError('Unexpected text before parameters');
  while (i < text.length) {
    // text[i] is ';' here.
    const nameStart = skipLws(text, i + 1);
    let j = nameStart;
    while (j < text.length && text[j] !== '=' && text[j] !== ';' && !isLws(text[j])) j++;
    const name = text.slice(nameStart, j);
    if (!TOKEN.test(name)) throw new SipParseError('Malformed parameter');
    j = skipLws(text, j);
    let paramValue: string | null = null;
    if (text[j] === '=') {
      const valueStart = skipLws(text, j + 1);
      let valueEnd: number;
      if (text[valueStart] === '"') {
        valueEnd = endOfQuotedString(text, valueStart);
      } else {
        valueEnd = valueStart;
        while (valueEnd < text.length && text[valueEnd] !== ';' && !isLws(text[valueEnd])) {
          valueEnd++;
        }
        const bare = text.slice(valueStart, valueEnd);
        if (!TOKEN.test(bare) && !IPV6_REFERENCE.test(bare)) {
          throw new SipParseError('Malformed parameter value');
        }
      }
      paramValue = text.slice(valueStart, valueEnd);
      j = skipLws(text, valueEnd);
    }
    const key = name.toLowerCase();
    if (!params.has(key)) params.set(key, paramValue);
    if (j < text.length && text[j] !== ';') throw new SipParseError('Malformed parameter');
    i = j;
  }
  return Object.fromEntries(params);
}

const SENT_PROTOCOL = new RegExp(
  `^[ \\t]*([${TOKEN_CHARS}]+)[ \\t]*/[ \\t]*([${TOKEN_CHARS}]+)[ \\t]*/[ \\t]*([${TOKEN_CHARS}]+)[ \\t]+([^;]*)`,
);
const SENT_BY = /^(\[[0-9A-Fa-f:.]+\]|[^\s:]+)(?:[ \t]*:[ \t]*([0-9]{1,5}))?$/;

/** Parses one Via value (already split from its list), e.g. `SIP/2.0/UDP host:5060;branch=…`. */
export function parseVia(value: string): Via {
  const match = SENT_PROTOCOL.exec(value);
  if (!match) throw new SipParseError('Malformed Via');
  const [whole, name = '', version = '', transport = '', sentByText = ''] = match;
  const sentBy = SENT_BY.exec(trimLws(sentByText));
  if (!sentBy?.[1]) throw new SipParseError('Malformed Via sent-by');
  const host = sentBy[1];
  if (!IPV6_REFERENCE.test(host) && !HOSTNAME.test(host)) throw new SipParseError('Malformed Via host');
  const via: Via = {
    protocol: `${name.toUpperCase()}/${version}`,
    transport: transport.toUpperCase(),
    host: host.toLowerCase(),
    params: parseParams(value.slice(whole.length)),
  };
  if (sentBy[2] !== undefined) {
    const port = Number(sentBy[2]);
    if (port > 65535) throw new SipParseError('Malformed Via port');
    via.port = port;
  }
  return via;
}

/** Formats a Via value from its parts (used when stamping received/rport). */
export function formatVia(via: Via): string {
  let text = `${via.protocol}/${via.transport} ${via.host}`;
  if (via.port !== undefined) text += `:${via.port}`;
  for (const [name, paramValue] of Object.entries(via.params)) {
    text += paramValue === null ? `;${name}` : `;${name}=${paramValue}`;
  }
  return text;
}

const CSEQ = new RegExp(`^([0-9]{1,10})[ \\t]+([${TOKEN_CHARS}]+)$`);
const MAX_CSEQ = 2 ** 31 - 1;

/** Parses a CSeq value; the sequence number must be 0..2^31-1 (RFC 3261 §8.1.1.5). */
export function parseCSeq(value: string): CSeq {
  const match = CSEQ.exec(trimLws(value));
  if (!match?.[1] || !match[2]) throw new SipParseError('Malformed CSeq');
  const seq = Number(match[1]);
  if (seq > MAX_CSEQ) throw new SipParseError('CSeq number out of range');
  return { seq, method: match[2] };
}

export function isToken(text: string): boolean {
  return TOKEN.test(text);
}
