// Messages the system itself sends: a bounce to the sender of an undeliverable message, an IMDN
// delivery notification (RFC 5438), and a recipient's offline notice or vacation auto-reply.
// Each carries `Auto-Submitted` so that no automatic answer is ever sent to one (no loops).
import type { HeldMessage } from './held-message.ts';
import type { OutgoingMessage } from './jobs.ts';

export const AUTO_SUBMITTED = { name: 'Auto-Submitted', value: 'auto-replied' };
// The edge marks every MESSAGE it delivers with X-Holdover-Delivery (edge/outgoing-request.ts).

/** A Call-ID that is the same every time a held message is sent, so a UA can drop a duplicate. */
export function callIdOf(messageId: string): string {
  return `${messageId}@holdover`;
}

export function deliveryOf(message: HeldMessage): OutgoingMessage {
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

function text(id: string, from: string, to: string, body: string, nowMs: number): OutgoingMessage {
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

/** Tells the sender their message could not be delivered, sent from the recipient's address. */
export function bounceOf(
  message: HeldMessage,
  status: number,
  reason: string,
  id: string,
  nowMs: number,
): OutgoingMessage {
  const body = `Your message to ${message.recipient} sent ${message.receivedAt} could not be delivered (${status} ${reason}).`;
  return text(id, message.recipient, message.sender, body, nowMs);
}

export function bounceOnExpiry(message: HeldMessage, id: string, nowMs: number): OutgoingMessage {
  const body = `Your message to ${message.recipient} sent ${message.receivedAt} was not delivered: it waited until ${message.expiresAt} and expired.`;
  return text(id, message.recipient, message.sender, body, nowMs);
}

export function autoReplyOf(
  recipient: string,
  sender: string,
  notice: string,
  id: string,
  nowMs: number,
): OutgoingMessage {
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
export function deliveryNotificationOf(message: HeldMessage, id: string, nowMs: number): OutgoingMessage {
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
