// A raw mail (RFC 5322, MIME) → the core's InboundMail, with postal-mime (multipart,
// quoted-printable, base64, encoded words, charsets with the runtime's TextDecoder). Shared by the
// SES function (functions/inbound-email.ts) and the local SMTP listener (local/smtp.ts), so both
// feed the use case the same facts. Everything here is written by whoever sent the mail: bounded.
// HTML stays HTML here; the core reduces it to text (core/html-text.ts) when there is no text part.
// Cold start: postal-mime has no dependencies and is ~80 KB bundled; mailparser and what it brought
// (iconv-lite, encoding-japanese, he, entities, libmime, htmlparser2, html-to-text) were ~1.1 MB of
// the inboundEmail bundle and most of its import time (bench/results/cold.md).
import PostalMime, { type Attachment } from 'postal-mime';
import type { InboundMail, Verdict } from '../core/alerts.ts';
import { CP1252_HIGH } from '../core/html-text.ts';

/** Largest raw mail taken (SMTP: announced with SIZE; SES: read from S3); its text is trimmed further. */
export const MAX_MAIL_BYTES = 10 * 1024 * 1024;

/**
 * Most lines in a raw mail. postal-mime gathers a part's lines one by one into a Blob, which costs
 * ~10 µs a line here: 10 MiB of short lines took 30 s. A 10 MiB mail of base64 at 76 characters a
 * line has ~140 000; past this a mail is refused before it is parsed (~2 s of parsing at most).
 */
export const MAX_MAIL_LINES = 250_000;

/** Most characters of text kept from a mail (the IM is trimmed further to the size limit). */
const MAX_TEXT_CHARS = 256 * 1024;

/** Limits postal-mime enforces while parsing (its defaults are 256 levels and 2 MiB). */
const PARSE_LIMITS = { maxNestingDepth: 64, maxHeadersSize: 1024 * 1024, maxRfc822NestingDepth: 5 };

const XML_TYPE = /^(?:text|application)\/(?:[\w.+-]+\+)?xml$/i;

export interface Envelope {
  /** MAIL FROM (SES: the mail's source): the sender when the mail has no From header. */
  from?: string;
  /** RCPT TO (SES: the receipt's recipients). */
  to: string[];
  verdicts?: InboundMail['verdicts'];
}

/** A mail that cannot be read as MIME (past the parser's limits): refused, never retried. */
export class MalformedMailError extends Error {
  override readonly name = 'MalformedMailError';
}

// Node's TextDecoder decodes the labels WHATWG maps to Windows-1252 (windows-1252, iso-8859-1,
// us-ascii) as Latin-1 in Node 20.18.3+ and 22.13–22.18 (nodejs/node#56542, #60888), leaving
// 0x80–0x9F as C1 control characters where the sender meant “smart quotes”, € or –. No mail
// means a C1 control, so each one is read as Windows-1252 reads its byte (a no-op where the
// runtime decodes right, and for the five bytes Windows-1252 leaves undefined).
const C1 = /[\u0080-\u009f]/g;
function windows1252(text: string): string {
  return text.replace(C1, (char) => {
    const mapped = CP1252_HIGH[char.charCodeAt(0) - 0x80] ?? 0;
    return mapped === 0 ? char : String.fromCharCode(mapped);
  });
}

// TextDecoder reads the label `utf-16` as UTF-16LE whatever its byte order mark says (WHATWG);
// a big-endian part then starts with U+FFFE, every code unit byte-swapped: swapped back here (a
// part behind another text part, or a big-endian one without a mark, stays as decoded).
function utf16ByteOrder(text: string): string {
  if (!text.startsWith('\uFFFE')) return text;
  let swapped = '';
  for (let i = 1; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    swapped += String.fromCharCode(((unit & 0xff) << 8) | (unit >> 8));
  }
  return swapped;
}

function bounded(text: string | undefined, chars = MAX_TEXT_CHARS): string | undefined {
  return text === undefined ? undefined : windows1252(utf16ByteOrder(text).slice(0, chars));
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * An XML part's text. postal-mime keeps a non-text part's bytes without its charset parameter,
 * so: the mail's own Content-Type charset when the XML is the whole body, else the XML
 * declaration's encoding, else UTF-8 when the bytes are valid UTF-8, else Windows-1252 (which
 * reads every byte).
 */
function xmlOf(attachments: Attachment[], rootType: string | undefined): string | undefined {
  const part = attachments.find((attachment) => XML_TYPE.test(attachment.mimeType));
  if (part === undefined || typeof part.content === 'string') return undefined;
  const bytes = new Uint8Array(part.content).subarray(0, MAX_TEXT_CHARS * 4);
  const declared =
    (attachments.length === 1 && rootType && XML_TYPE.test(rootType.split(';')[0]?.trim() ?? '')
      ? /;\s*charset\s*=\s*"?([\w.:-]+)/i.exec(rootType)?.[1]
      : undefined) ??
    /^\s*<\?xml[^>]*\bencoding\s*=\s*["']([\w.:-]+)["']/.exec(
      new TextDecoder('latin1').decode(bytes.subarray(0, 200)),
    )?.[1];
  if (declared !== undefined) {
    try {
      return new TextDecoder(declared).decode(bytes);
    } catch {
      // an unknown label: read it as if none were given
    }
  }
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return new TextDecoder('windows-1252').decode(bytes);
  }
}

/** The number of lines in `raw`, counted up to one past `limit`. */
function lineCount(raw: Uint8Array, limit: number): number {
  let lines = 1;
  for (let at = raw.indexOf(0x0a); at >= 0 && lines <= limit; at = raw.indexOf(0x0a, at + 1)) lines++;
  return lines;
}

export async function parseMail(raw: Uint8Array, envelope: Envelope): Promise<InboundMail> {
  if (raw.byteLength > MAX_MAIL_BYTES)
    throw new MalformedMailError(`the mail is larger than ${MAX_MAIL_BYTES} bytes`);
  if (lineCount(raw, MAX_MAIL_LINES) > MAX_MAIL_LINES)
    throw new MalformedMailError(`the mail has more than ${MAX_MAIL_LINES} lines`);
  let mail: Awaited<ReturnType<typeof PostalMime.parse>>;
  try {
    mail = await PostalMime.parse(raw, PARSE_LIMITS);
  } catch (error) {
    throw new MalformedMailError(`the mail is not readable MIME: ${(error as Error).message}`);
  }
  const from = mail.from?.address ? mail.from : mail.from?.group?.find((member) => member.address);
  const rootType = mail.headers.find((header) => header.key === 'content-type')?.value;
  const xml = xmlOf(mail.attachments, rootType);
  return {
    ...(from?.address ? { from: from.address } : envelope.from ? { from: envelope.from } : {}),
    ...(from?.name ? { fromName: bounded(from.name, 200) } : {}),
    to: envelope.to,
    ...(mail.subject !== undefined ? { subject: bounded(mail.subject, 998) } : {}),
    ...(mail.text !== undefined ? { text: bounded(mail.text) } : {}),
    ...(mail.html !== undefined ? { html: bounded(mail.html) } : {}),
    ...(xml !== undefined ? { xml: bounded(xml) } : {}),
    ...(mail.messageId ? { messageId: mail.messageId.trim().slice(0, 998) } : {}),
    ...(envelope.verdicts ? { verdicts: envelope.verdicts } : {}),
  };
}

/** SES's verdict status, checked (an unknown one counts as a processing failure, never a pass). */
export function verdictOf(status: string | undefined): Verdict | undefined {
  if (status === undefined) return undefined;
  const known: readonly Verdict[] = ['PASS', 'FAIL', 'GRAY', 'PROCESSING_FAILED', 'DISABLED'];
  return known.find((verdict) => verdict === status) ?? 'PROCESSING_FAILED';
}
