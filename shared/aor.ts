// The one address normaliser: the edge (shared/sip/uri.ts aorOf, after its full RFC 3261 parse)
// and the functions (capture, presence, operator routes, CLI) file a user under the same
// address-of-record, so a message is never held under a spelling nobody registers as.
import { InvalidRequestError } from './errors.ts';

const UNRESERVED = "A-Za-z0-9\\-_.!~*'()";
// RFC 3261 25.1: user = 1*( unreserved / escaped / user-unreserved )
const USER = new RegExp(`^(?:[${UNRESERVED}&=+$,;?/]|%[0-9A-Fa-f]{2})+$`);
const USER_PLAIN = new RegExp(`^[${UNRESERVED}&=+$,;?/]$`);
const HOSTNAME =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?$/;
const IPV6_REFERENCE = /^\[[0-9A-Fa-f:.]+\]$/;
const PORT = /^[0-9]{1,5}$/;

/**
 * Normalizes a SIP or SIPS URI (optionally inside <>) to its address-of-record `sip:user@host`
 * (RFC 3261 19.1.4): scheme sips → sip, host in lower case, password, port, parameters and
 * headers dropped. The user part stays case-sensitive; an escape of a character that needs none
 * (`%6F` → `o`) is decoded, any other escape is kept with upper-case hex, so equal users give
 * equal strings.
 */
export function normalizeAor(uri: string): string {
  const refuse = (why: string) =>
    new InvalidRequestError(`"${uri}" is not a SIP address of record (expected sip:user@host): ${why}`);
  let text = uri.trim();
  if (text.startsWith('<') && text.endsWith('>')) text = text.slice(1, -1);
  const scheme = /^sips?:/i.exec(text)?.[0];
  if (scheme === undefined) throw refuse('not a sip: or sips: URI');
  const rest = text.slice(scheme.length);
  // '@' is in none of the user, host, parameter or header character classes, while ';' and '?'
  // may appear in a user part: the userinfo is what comes before the first '@'.
  const at = rest.indexOf('@');
  if (at <= 0) throw refuse('no user part');
  const userinfo = rest.slice(0, at);
  const colon = userinfo.indexOf(':');
  const rawUser = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
  if (rawUser === '' || !USER.test(rawUser)) throw refuse('malformed user part');
  const hostport = rest.slice(at + 1).split(/[;?]/, 1)[0] ?? '';
  return `sip:${canonicalUser(rawUser)}@${hostOf(hostport, refuse)}`;
}

function hostOf(hostport: string, refuse: (why: string) => Error): string {
  let host: string;
  let port: string | undefined;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    host = hostport.slice(0, close + 1);
    const after = hostport.slice(close + 1);
    if (close < 0 || !IPV6_REFERENCE.test(host) || (after !== '' && !after.startsWith(':')))
      throw refuse('malformed host');
    if (after !== '') port = after.slice(1);
  } else {
    const colon = hostport.indexOf(':');
    host = colon >= 0 ? hostport.slice(0, colon) : hostport;
    if (colon >= 0) port = hostport.slice(colon + 1);
    if (!HOSTNAME.test(host)) throw refuse('malformed host');
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) > 65535)) throw refuse('malformed port');
  return host.toLowerCase();
}

function canonicalUser(rawUser: string): string {
  if (!rawUser.includes('%')) return rawUser;
  return rawUser.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const decoded = String.fromCharCode(Number.parseInt(hex, 16));
    return USER_PLAIN.test(decoded) ? decoded : `%${hex.toUpperCase()}`;
  });
}

export function domainOf(aor: string): string {
  return aor.slice(aor.indexOf('@') + 1);
}

/** The mailbox an enterprise SIP address maps to: `sip:bob@example.com` → `bob@example.com`. */
export function emailOfAor(aor: string): string {
  return aor.replace(/^sip:/, '');
}
