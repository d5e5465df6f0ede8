// What every SIP header-value parser shares (RFC 3261 §25.1): the parse error, linear white space,
// tokens, host names and quoted strings. Used by the edge's parsers (edge/sip/*) and by the URI
// parser in shared/sip/uri.ts.
//
// The character classes are the RFC 3261 §25.1 ABNF written as regular expressions; anything
// outside them is refused rather than guessed at, so a value that passes can be copied into a
// response without surprising the peer.

/**
 * Bytes or text that cannot be read as SIP. `reason` is short and safe to log or to put in
 * a reason phrase; it never contains message content.
 */
export class SipParseError extends Error {
  readonly reason: string;

  constructor(reason: string) {
    super(reason);
    this.name = 'SipParseError';
    this.reason = reason;
  }
}

export const TOKEN_CHARS = "A-Za-z0-9\\-.!%*_+`'~";
export const UNRESERVED = "A-Za-z0-9\\-_.!~*'()";
export const ESCAPED = '%[0-9A-Fa-f]{2}';
export const TOKEN = new RegExp(`^[${TOKEN_CHARS}]+$`);
export const HOSTNAME =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?$/;
export const IPV6_REFERENCE = /^\[[0-9A-Fa-f:.]+\]$/;

export function isToken(text: string): boolean {
  return TOKEN.test(text);
}

/**
 * Trims SP and HTAB only: SIP's linear white space. String.prototype.trim would also eat
 * characters such as U+FEFF and U+00A0 that belong to a value (RFC 4475 §3.1.1.2).
 */
export function trimLws(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isSpaceOrTab(text.charCodeAt(start))) start++;
  while (end > start && isSpaceOrTab(text.charCodeAt(end - 1))) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

function isSpaceOrTab(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

// Values reach this module unfolded, so linear white space is just SP and HTAB.
export function isLws(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t';
}

export function skipLws(text: string, from: number): number {
  let i = from;
  while (isLws(text[i])) i++;
  return i;
}

/** Index just after the closing quote of the quoted string starting at `open`. */
export function endOfQuotedString(text: string, open: number): number {
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

export function unquote(quoted: string): string {
  return quoted.slice(1, -1).replace(/\\([\s\S])/g, '$1');
}
