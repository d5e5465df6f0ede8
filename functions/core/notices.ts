// Messages the system itself sends: a bounce to the sender of an undeliverable message, an IMDN
// delivery notification (RFC 5438), and a recipient's offline notice or vacation auto-reply.
// Each carries `Auto-Submitted` so that no automatic answer is ever sent to one (no loops).

import type { MessageToDeliver } from '../../shared/contract/delivery.ts';
import { type BounceFacts, type HeldMessage, readableContent } from './held-message.ts';
import type { DeliveryJob } from './jobs.ts';

export const AUTO_SUBMITTED = { name: 'Auto-Submitted', value: 'auto-replied' };
// The edge marks every MESSAGE it delivers with X-Holdover-Delivery (edge/outgoing-request.ts).

/** A Call-ID that is the same every time a held message is sent, so a UA can drop a duplicate. */
export function callIdOf(messageId: string): string {
  return `${messageId}@holdover`;
}

export function deliveryOf(message: HeldMessage): MessageToDeliver {
  return {
    id: message.id,
    from: message.senderUri,
    ...(message.senderName ? { fromName: message.senderName } : {}),
    to: message.recipient,
    contentType: message.contentType,
    body: Buffer.from(message.body).toString('base64'),
    date: message.receivedAt,
    callId: callIdOf(message.id),
  };
}

function text(id: string, from: string, to: string, body: string, nowMs: number): MessageToDeliver {
  return {
    id,
    from,
    to,
    contentType: 'text/plain;charset=UTF-8',
    body: Buffer.from(body, 'utf8').toString('base64'),
    date: new Date(nowMs).toISOString(),
    callId: callIdOf(id),
    headers: [AUTO_SUBMITTED],
  };
}

/** How much of the original text a bounce quotes (characters): enough to recognise it. */
export const BOUNCE_QUOTE_CHARS = 1000;

/**
 * Tells the sender their message could not be delivered, and why, sent from the recipient's
 * address; the original text is quoted (bounded), so the sender knows which message it was.
 */
export function bounceOf(
  message: HeldMessage,
  bounce: BounceFacts,
  id: string,
  nowMs: number,
): MessageToDeliver {
  const why =
    bounce.status === 0
      ? `was not delivered: ${bounce.reason}`
      : `could not be delivered (${bounce.status} ${bounce.reason})`;
  const body = `Your message to ${message.recipient} sent ${message.receivedAt} ${why}.${quoteOf(message)}`;
  return text(id, message.recipient, message.sender, body, nowMs);
}

/** Why an expired message bounces, as its notice says it. */
export function expiryBounce(message: HeldMessage, nowMs: number): BounceFacts {
  return { status: 0, reason: `it waited until ${message.expiresAt} and expired`, at: nowMs };
}

/** The notice job of a bounce: its outcome settles the bounced message (BounceStore.settleBounce). */
export function bounceNoticeOf(
  message: HeldMessage,
  bounce: BounceFacts,
  id: string,
  nowMs: number,
): Extract<DeliveryJob, { kind: 'notice' }> {
  return {
    kind: 'notice',
    reason: 'bounce',
    ...(message.replyTo ? { target: message.replyTo } : {}),
    message: bounceOf(message, bounce, id, nowMs),
    settles: { recipient: message.recipient, receivedAt: message.receivedAt, id: message.id },
  };
}

function quoteOf(message: HeldMessage): string {
  let original: string | undefined;
  try {
    original = readableContent(message.contentType, message.body).text;
  } catch {
    original = undefined; // accepted content always decodes; a stored oddity is not quoted
  }
  if (original === undefined) return `\n\n(The message was ${message.contentType} content.)`;
  const cut = original.length > BOUNCE_QUOTE_CHARS;
  const quoted = `${original.slice(0, BOUNCE_QUOTE_CHARS)}${cut ? ' […]' : ''}`
    .split(/\r?\n/)
    .map((line) => `> ${line}`)
    .join('\n');
  return `\n\nYour message:\n${quoted}`;
}

export function autoReplyOf(
  recipient: string,
  sender: string,
  notice: string,
  id: string,
  nowMs: number,
): MessageToDeliver {
  return text(id, recipient, sender, notice, nowMs);
}

export function wantsPositiveDelivery(message: HeldMessage): boolean {
  return (
    /\bpositive-delivery\b/i.test(message.cpim?.imdnDisposition ?? '') &&
    message.cpim?.imdnMessageId !== undefined
  );
}

function escapeXml(value: string): string {
  return value.replace(/[<>&'"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** An IMDN `delivered` notification (RFC 5438 §7.2.1) in a CPIM wrapper, from the recipient to the sender. */
export function deliveryNotificationOf(message: HeldMessage, id: string, nowMs: number): MessageToDeliver {
  const now = new Date(nowMs).toISOString();
  const xml = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<imdn xmlns="urn:ietf:params:xml:ns:imdn">',
    `<message-id>${escapeXml(message.cpim?.imdnMessageId ?? '')}</message-id>`,
    `<datetime>${escapeXml(message.cpim?.dateTime ?? message.receivedAt)}</datetime>`,
    `<recipient-uri>${escapeXml(message.recipient)}</recipient-uri>`,
    `<original-recipient-uri>${escapeXml(message.recipient)}</original-recipient-uri>`,
    '<delivery-notification><status><delivered/></status></delivery-notification>',
    '</imdn>',
  ].join('\n');
  const xmlBytes = Buffer.from(xml, 'utf8');
  const cpim = Buffer.concat([
    Buffer.from(
      [
        `From: <${message.recipient}>`,
        `To: <${message.sender}>`,
        'NS: imdn <urn:ietf:params:imdn>',
        `imdn.Message-ID: ${id}`,
        `DateTime: ${now}`,
        '',
        'Content-Type: message/imdn+xml',
        'Content-Disposition: notification',
        `Content-Length: ${xmlBytes.length}`,
        '',
        '',
      ].join('\r\n'),
      'utf8',
    ),
    xmlBytes,
  ]);
  return {
    id,
    from: message.recipient,
    to: message.sender,
    contentType: 'message/cpim',
    body: cpim.toString('base64'),
    date: now,
    callId: callIdOf(id),
    headers: [AUTO_SUBMITTED],
  };
}
