import { InvalidRequestError } from '../../shared/errors.ts';

/** What we keep of a CPIM envelope (RFC 3862) and its IMDN headers (RFC 5438). */
export interface CpimEnvelope {
  from?: string;
  to?: string;
  dateTime?: string;
  subject?: string;
  imdnMessageId?: string;
  /** e.g. `positive-delivery, negative-delivery` */
  imdnDisposition?: string;
  /** Content-Type of the wrapped message. */
  contentType: string;
  /** The wrapped message's body, byte-exact. */
  body: Uint8Array;
}

const IMDN_URN = 'urn:ietf:params:imdn';
const CRLF_CRLF = Buffer.from('\r\n\r\n');
const LF_LF = Buffer.from('\n\n');

/**
 * Unwraps a `message/cpim` body: message headers, a blank line, MIME headers of the wrapped
 * content, a blank line, and the content bytes, which are returned untouched.
 */
export function parseCpim(bytes: Uint8Array): CpimEnvelope {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [messageHeaders, afterMessage] = splitHeaderBlock(buffer, 'message headers');
  const [mimeHeaders, body] = splitHeaderBlock(afterMessage, 'MIME headers');

  const namespaces = new Map<string, string>();
  const fields: Array<[string, string]> = [];
  for (const [name, value] of messageHeaders) {
    if (name.toLowerCase() === 'ns') {
      const match = /^\s*([^\s<]*)\s*<([^>]*)>/.exec(value);
      if (match?.[2] !== undefined) namespaces.set((match[1] ?? '').toLowerCase(), match[2]);
    } else {
      fields.push([name, value]);
    }
  }
  const envelope: CpimEnvelope = { contentType: '', body };
  for (const [name, value] of fields) {
    const dot = name.lastIndexOf('.');
    const prefix = dot < 0 ? '' : name.slice(0, dot).toLowerCase();
    const local = (dot < 0 ? name : name.slice(dot + 1)).toLowerCase();
    if (prefix === '') {
      if (local === 'from') envelope.from = value;
      else if (local === 'to') envelope.to = value;
      else if (local === 'datetime') envelope.dateTime = value;
      else if (local === 'subject') envelope.subject = value;
    } else if (namespaces.get(prefix) === IMDN_URN) {
      if (local === 'message-id') envelope.imdnMessageId = value;
      else if (local === 'disposition-notification') envelope.imdnDisposition = value;
    }
  }
  for (const [name, value] of mimeHeaders) {
    if (name.toLowerCase() === 'content-type') envelope.contentType = value;
  }
  if (envelope.contentType === '') {
    throw new InvalidRequestError('CPIM body has no Content-Type for the wrapped message');
  }
  return envelope;
}

function splitHeaderBlock(buffer: Buffer, what: string): [Array<[string, string]>, Buffer] {
  let end = buffer.indexOf(CRLF_CRLF);
  let separator = CRLF_CRLF.length;
  const lfEnd = buffer.indexOf(LF_LF);
  if (end < 0 || (lfEnd >= 0 && lfEnd < end)) {
    end = lfEnd;
    separator = LF_LF.length;
  }
  if (end < 0) throw new InvalidRequestError(`CPIM body is malformed: no blank line after its ${what}`);
  const headers: Array<[string, string]> = [];
  for (const line of buffer.subarray(0, end).toString('utf8').split(/\r?\n/)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new InvalidRequestError(`CPIM body is malformed: bad header line in its ${what}`);
    headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  return [headers, buffer.subarray(end + separator)];
}
