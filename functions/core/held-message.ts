import type { HeldState, HeldView } from '../../shared/contract/views.ts';
import { CPIM, charsetOf, decodeText, isTextType, parseContentType } from './content.ts';
import { parseCpim } from './cpim.ts';

/** Why a message bounced, kept on it until its sender was told (or, if never, on the dead letter). */
export interface BounceFacts {
  /** The final SIP status that refused it, or 0 for a bounce on expiry. */
  status: number;
  reason: string;
  /** Epoch ms of the bounce. */
  at: number;
}

/** Why a bounced message's notice failed for good. */
export interface DeadFacts {
  reason: string;
  /** Epoch ms. */
  at: number;
}

/** What identifies a held message in the store: its recipient, arrival time and id. */
export interface MessageRef {
  recipient: string;
  receivedAt: string;
  id: string;
}

/** IMDN and CPIM facts kept from a `message/cpim` body, needed again at delivery. */
export interface CpimFacts {
  from?: string;
  dateTime?: string;
  imdnMessageId?: string;
  imdnDisposition?: string;
}

/**
 * A member's copy of an alert (a mail to a group, functions/core/alerts.ts): which alert records
 * its outcome, and what becomes of it if it expires undelivered (the group's policy, not the
 * member's: an alert is never bounced to its sender).
 */
export interface AlertFacts {
  id: string;
  onExpire: 'drop' | 'email';
}

export interface HeldMessage {
  /** ULID: sorts by capture time. */
  id: string;
  /** Address-of-record of the recipient, `sip:user@host`. */
  recipient: string;
  /** Address-of-record of the sender. */
  sender: string;
  /** The sender's URI as it appeared in From, used as From again on delivery. */
  senderUri: string;
  senderName?: string;
  /** Where the sender can be reached for a bounce or IMDN: their Contact, or where the MESSAGE came from. */
  replyTo?: string;
  callId: string;
  cseq: number;
  /** The original Content-Type header, delivered unchanged. */
  contentType: string;
  /** The original body, byte-exact. */
  body: Uint8Array;
  cpim?: CpimFacts;
  subject?: string;
  /** Set on a member's copy of an alert. */
  alert?: AlertFacts;
  receivedAt: string;
  expiresAt: string;
  state: HeldState;
  /** The delivery run that marked it `delivering` (in-flight ownership). */
  owner?: string;
  /** Set while `bounced` or `dead`. */
  bounce?: BounceFacts;
  /** Set while `dead`. */
  dead?: DeadFacts;
}

export interface ReadableContent {
  /** Media type of what a person reads (the wrapped type for CPIM). */
  mediaType: string;
  /** Decoded text, or undefined for content that is not text (named, not rendered). */
  text?: string;
}

/**
 * Decodes what the recipient reads: the body in its declared charset, unwrapping CPIM first.
 * Throws the same domain errors capture uses to refuse a message, so what was accepted always
 * reads back.
 */
export function readableContent(contentType: string, body: Uint8Array): ReadableContent {
  let type = parseContentType(contentType);
  let bytes = body;
  if (type.mediaType === CPIM) {
    const envelope = parseCpim(body);
    type = parseContentType(envelope.contentType);
    bytes = envelope.body;
  }
  if (!isTextType(type.mediaType)) return { mediaType: type.mediaType };
  const { label } = charsetOf(type);
  return { mediaType: type.mediaType, text: decodeText(bytes, label) };
}

/** A held message as the API shows it (`GET …/messages`): readable text, or null for other content. */

export function heldView(message: HeldMessage): HeldView {
  const content = readableContent(message.contentType, message.body);
  return {
    id: message.id,
    from: message.sender,
    ...(message.senderName ? { fromName: message.senderName } : {}),
    to: message.recipient,
    body: content.text ?? null,
    contentType: message.contentType,
    ...(content.mediaType !== message.contentType ? { innerContentType: content.mediaType } : {}),
    receivedAt: message.receivedAt,
    expiresAt: message.expiresAt,
    state: message.state,
  };
}
