// A raw mail (RFC 5322, MIME) → the core's InboundMail, with mailparser (multipart,
// quoted-printable, base64, charsets, HTML → text). Shared by the SES function
// (functions/inbound-email.ts) and the local SMTP listener (local/smtp.ts), so both feed the use
// case the same facts. Everything here is written by whoever sent the mail: bounded.
// Cold start: mailparser and what it brings (iconv-lite 481 KB, encoding-japanese 225 KB, he,
// entities, libmime, htmlparser2, html-to-text…) are about 1.1 MB of the inboundEmail bundle's
// 1.75 MB and most of its import time (bench/results/cold.md), which is why that one function is
// over the 80 ms target: a parser that decodes charsets with TextDecoder and leaves HTML to
// core/alerts.ts's htmlToText (postal-mime: 76 KB bundled, no dependencies) would take it under.
import { type Attachment, simpleParser } from 'mailparser';
import type { InboundMail, Verdict } from '../core/alerts.ts';

/** Most characters of text kept from a mail (the IM is trimmed further to the size limit). */
const MAX_TEXT_CHARS = 256 * 1024;

const XML_TYPE = /^(?:text|application)\/(?:[\w.+-]+\+)?xml$/i;

export interface Envelope {
  /** MAIL FROM (SES: the mail's source): the sender when the mail has no From header. */
  from?: string;
  /** RCPT TO (SES: the receipt's recipients). */
  to: string[];
  verdicts?: InboundMail['verdicts'];
}

function bounded(text: string | undefined): string | undefined {
  return text === undefined ? undefined : text.slice(0, MAX_TEXT_CHARS);
}

/** An XML part's text in its declared charset (UTF-8 if none or unknown). */
function xmlOf(attachments: Attachment[]): string | undefined {
  const part = attachments.find((attachment) => XML_TYPE.test(attachment.contentType));
  if (part === undefined) return undefined;
  const type = part.headers.get('content-type');
  const charset =
    typeof type === 'object' && type !== null && 'params' in type ? type.params.charset : undefined;
  try {
    return new TextDecoder(charset ?? 'utf-8').decode(part.content);
  } catch {
    return new TextDecoder('utf-8').decode(part.content);
  }
}

export async function parseMail(raw: Buffer, envelope: Envelope): Promise<InboundMail> {
  const mail = await simpleParser(raw, { skipImageLinks: true, maxHtmlLengthToParse: MAX_TEXT_CHARS });
  const from = mail.from?.value.find((address) => address.address !== undefined);
  const xml = xmlOf(mail.attachments);
  return {
    ...(from?.address ? { from: from.address } : envelope.from ? { from: envelope.from } : {}),
    ...(from?.name ? { fromName: from.name.slice(0, 200) } : {}),
    to: envelope.to,
    ...(mail.subject !== undefined ? { subject: mail.subject.slice(0, 998) } : {}),
    ...(mail.text !== undefined ? { text: bounded(mail.text) } : {}),
    ...(typeof mail.html === 'string' ? { html: bounded(mail.html) } : {}),
    ...(xml !== undefined ? { xml: bounded(xml) } : {}),
    ...(mail.messageId ? { messageId: mail.messageId.slice(0, 998) } : {}),
    ...(envelope.verdicts ? { verdicts: envelope.verdicts } : {}),
  };
}

/** SES's verdict status, checked (an unknown one counts as a processing failure, never a pass). */
export function verdictOf(status: string | undefined): Verdict | undefined {
  if (status === undefined) return undefined;
  const known: readonly Verdict[] = ['PASS', 'FAIL', 'GRAY', 'PROCESSING_FAILED', 'DISABLED'];
  return known.find((verdict) => verdict === status) ?? 'PROCESSING_FAILED';
}
