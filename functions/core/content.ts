import { TextDecoder } from 'node:util';
import { InvalidRequestError, UnsupportedMediaError } from '../../shared/errors.ts';

export interface ContentType {
  /** `type/subtype` in lower case. */
  mediaType: string;
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Parses a Content-Type value (RFC 3261 20.15 / RFC 2045): media type plus parameters. */
export function parseContentType(value: string): ContentType {
  const [head = '', ...rest] = splitParams(value);
  const mediaType = head.trim().toLowerCase();
  if (!TOKEN.test(mediaType)) throw new InvalidRequestError(`Malformed Content-Type "${value}"`);
  const params: Record<string, string> = {};
  for (const param of rest) {
    const eq = param.indexOf('=');
    if (eq <= 0) continue;
    const name = param.slice(0, eq).trim().toLowerCase();
    let paramValue = param.slice(eq + 1).trim();
    if (paramValue.startsWith('"') && paramValue.endsWith('"') && paramValue.length >= 2) {
      paramValue = paramValue.slice(1, -1).replace(/\\(.)/g, '$1');
    }
    params[name] = paramValue;
  }
  return { mediaType, params };
}

function splitParams(value: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === '\\' && quoted) {
      current += ch + (value[i + 1] ?? '');
      i++;
    } else if (ch === '"') {
      quoted = !quoted;
      current += ch;
    } else if (ch === ';' && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

/** Media types we hold as readable text. Others in HOLDABLE are held and named, not rendered. */
const TEXT_TYPES = new Set(['text/plain', 'text/html', 'text/enriched', 'text/markdown']);
const OTHER_HOLDABLE = new Set(['message/imdn+xml', 'application/xml', 'text/xml']);

export const CPIM = 'message/cpim';
export const IS_COMPOSING = 'application/im-iscomposing+xml';

export function isTextType(mediaType: string): boolean {
  return TEXT_TYPES.has(mediaType);
}

export function isHoldable(mediaType: string): boolean {
  return TEXT_TYPES.has(mediaType) || OTHER_HOLDABLE.has(mediaType);
}

export type Charset = 'utf-8' | 'iso-8859-1' | 'windows-1252' | 'utf-16';

const CHARSET_ALIASES: Record<string, Charset> = {
  'utf-8': 'utf-8',
  utf8: 'utf-8',
  'us-ascii': 'utf-8',
  ascii: 'utf-8',
  'iso-8859-1': 'iso-8859-1',
  'iso8859-1': 'iso-8859-1',
  'iso_8859-1': 'iso-8859-1',
  latin1: 'iso-8859-1',
  l1: 'iso-8859-1',
  'windows-1252': 'windows-1252',
  cp1252: 'windows-1252',
  'utf-16': 'utf-16',
  'utf-16le': 'utf-16',
  'utf-16be': 'utf-16',
};

export function charsetOf(contentType: ContentType): { charset: Charset; label: string } {
  const label = (contentType.params.charset ?? 'utf-8').toLowerCase();
  const charset = CHARSET_ALIASES[label];
  if (charset === undefined) {
    throw new UnsupportedMediaError(
      `Unsupported charset "${label}": use UTF-8, ISO-8859-1, Windows-1252 or UTF-16`,
    );
  }
  return { charset, label };
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
const utf16le = new TextDecoder('utf-16le', { fatal: true, ignoreBOM: true });
const utf16be = new TextDecoder('utf-16be', { fatal: true, ignoreBOM: true });
// Windows-1252 differs from ISO-8859-1 only in 0x80–0x9F. Node's small-ICU TextDecoder decodes
// the label as Latin-1, so the table is ours. 0 marks the five bytes Windows-1252 leaves undefined.
const CP1252_HIGH = [
  0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0,
  0x017d, 0, 0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a,
  0x0153, 0, 0x017e, 0x0178,
];

/**
 * Decodes a body by its declared charset. A body that is not valid in that charset is refused
 * (415) rather than stored as mojibake. `us-ascii` is decoded as UTF-8 but must be 7-bit.
 */
export function decodeText(body: Uint8Array, label: string): string {
  const invalid = (why: string) =>
    new UnsupportedMediaError(
      `Body is not valid ${label.toUpperCase()}: ${why}; send it in its declared charset`,
    );
  const charset = CHARSET_ALIASES[label.toLowerCase()];
  switch (charset) {
    case 'utf-8': {
      if ((label === 'us-ascii' || label === 'ascii') && body.some((byte) => byte > 0x7f)) {
        throw invalid('it has 8-bit bytes');
      }
      try {
        return utf8.decode(body);
      } catch {
        throw invalid('invalid byte sequence');
      }
    }
    case 'iso-8859-1':
      // Every byte is a character in ISO-8859-1; WHATWG's label would decode Windows-1252.
      return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('latin1');
    case 'windows-1252':
      return decodeCp1252(body, invalid);
    case 'utf-16':
      return decodeUtf16(body, label.toLowerCase(), invalid);
    default:
      throw new UnsupportedMediaError(`Unsupported charset "${label}"`);
  }
}

function decodeCp1252(body: Uint8Array, invalid: (why: string) => Error): string {
  let text = '';
  for (const byte of body) {
    if (byte < 0x80 || byte > 0x9f) {
      text += String.fromCharCode(byte);
      continue;
    }
    const codePoint = CP1252_HIGH[byte - 0x80] ?? 0;
    if (codePoint === 0) throw invalid(`byte 0x${byte.toString(16)} is undefined in Windows-1252`);
    text += String.fromCharCode(codePoint);
  }
  return text;
}

function decodeUtf16(body: Uint8Array, label: string, invalid: (why: string) => Error): string {
  if (body.byteLength % 2 !== 0) throw invalid('odd number of bytes');
  let decoder: TextDecoder;
  let start = 0;
  if (body[0] === 0xff && body[1] === 0xfe) {
    decoder = utf16le;
    start = 2;
  } else if (body[0] === 0xfe && body[1] === 0xff) {
    decoder = utf16be;
    start = 2;
  } else if (label === 'utf-16le') {
    decoder = utf16le;
  } else if (label === 'utf-16be' || label === 'utf-16') {
    // RFC 2781 4.3: without a BOM, UTF-16 is big-endian.
    decoder = utf16be;
  } else {
    throw invalid('no byte order mark');
  }
  try {
    return decoder.decode(body.subarray(start));
  } catch {
    throw invalid('unpaired surrogate');
  }
}
