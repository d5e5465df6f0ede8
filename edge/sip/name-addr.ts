// name-addr / addr-spec header values (From, To, Contact, Route…) and generic parameters
// (RFC 3261 §20.10, §25.1).
import {
  endOfQuotedString,
  IPV6_REFERENCE,
  isLws,
  SipParseError,
  skipLws,
  TOKEN,
  trimLws,
  unquote,
} from '../../shared/sip/grammar.ts';

export interface NameAddr {
  /** Unescaped display name, if any. */
  displayName?: string;
  /** The addr-spec, as written (without the angle brackets). */
  uri: string;
  /** Header parameters (tag, expires, q, …); names lower-cased, quoted values kept quoted. */
  params: Record<string, string | null>;
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
