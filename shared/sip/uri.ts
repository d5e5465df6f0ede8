// SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966 basics), the address-of-record of one, and where
// a request for one goes. The edge parses every URI it reads with it; the construct (infra/) checks
// the configured outbound proxy with the same `targetOfUri` the edge uses.
import { normalizeAor } from '../aor.ts';
import { ESCAPED, HOSTNAME, IPV6_REFERENCE, SipParseError, UNRESERVED } from './grammar.ts';

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

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
const USER = new RegExp(`^(?:[${UNRESERVED}&=+$,;?/]|${ESCAPED})+$`);
const PASSWORD = new RegExp(`^(?:[${UNRESERVED}&=+$,]|${ESCAPED})*$`);
const PARAM_CHARS = new RegExp(`^(?:[${UNRESERVED}\\[\\]/:&+$]|${ESCAPED})+$`);
const HEADER_CHARS = new RegExp(`^(?:[${UNRESERVED}\\[\\]/?:+$]|${ESCAPED})*$`);
// uric (RFC 2396): what an absoluteURI of a scheme we do not know may contain.
const URIC = new RegExp(`^(?:[${UNRESERVED};/?:@&=+$,\\[\\]]|${ESCAPED})+$`);
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
 * the functions use too (shared/aor.ts normalizeAor: sips → sip, host lower-cased,
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

/** Which transport a request goes over: the edge speaks UDP and TCP. */
export type SipTransportName = 'udp' | 'tcp';

export interface SipTarget {
  transport: SipTransportName;
  host: string;
  port: number;
}

export class UnsupportedTargetError extends Error {
  override readonly name = 'UnsupportedTargetError';
}

/**
 * Where to send a request for a SIP URI, without DNS SRV/NAPTR (RFC 3263 reduced to what a
 * contact or a configured proxy needs): `maddr` or the host, the port (default 5060), and the
 * `transport` parameter (UDP by default; TCP; TLS and others are not supported).
 */
export function targetOfUri(uri: string): SipTarget {
  let parsed: SipUri;
  try {
    parsed = parseUri(uri);
  } catch (error) {
    throw new UnsupportedTargetError(`"${uri}" is not a SIP URI (${describe(error)})`);
  }
  if (parsed.scheme === 'sips')
    throw new UnsupportedTargetError(`"${uri}" needs TLS, which the edge does not speak`);
  if (parsed.scheme !== 'sip') throw new UnsupportedTargetError(`"${uri}" is not a SIP URI`);
  const transportParam = (parsed.params.transport ?? 'udp').toLowerCase();
  if (transportParam !== 'udp' && transportParam !== 'tcp') {
    throw new UnsupportedTargetError(
      `"${uri}" asks for transport ${transportParam}; the edge speaks UDP and TCP`,
    );
  }
  const maddr = parsed.params.maddr;
  const host = maddr ? maddr.toLowerCase() : parsed.host;
  return {
    transport: transportParam,
    host: host.startsWith('[') ? host.slice(1, -1) : host,
    port: parsed.port ?? 5060,
  };
}

function describe(error: unknown): string {
  if (error instanceof SipParseError) return error.reason;
  return error instanceof Error ? error.message : String(error);
}
