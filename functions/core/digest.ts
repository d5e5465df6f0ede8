// The digest email of messages that waited too long (docs/design.md "Message lifecycle"): one per recipient per
// sweep, text and HTML parts, every piece of user content escaped in the HTML part.
import { type HeldMessage, readableContent } from './held-message.ts';

export interface Digest {
  subject: string;
  text: string;
  html: string;
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => ESCAPES[ch] ?? ch);
}

/** Header-safe: no line breaks or other control characters can reach the Subject header. */
function headerSafe(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  return value.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
}

function formatTime(iso: string, timeZone: string | undefined): string {
  const zone = timeZone ?? 'UTC';
  const formatted = new Intl.DateTimeFormat('en-GB', {
    timeZone: zone,
    year: 'numeric',
    month: 'short',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  }).format(new Date(iso));
  return `${formatted} ${zone === 'UTC' ? 'UTC' : zone}`;
}

function senderOf(message: HeldMessage): string {
  return message.senderName ? `${message.senderName} <${message.sender}>` : message.sender;
}

interface Entry {
  sender: string;
  time: string;
  text?: string;
  mediaType: string;
}

function entryOf(message: HeldMessage, timeZone: string | undefined): Entry {
  let content: { mediaType: string; text?: string };
  try {
    content = readableContent(message.contentType, message.body);
  } catch {
    content = { mediaType: message.contentType };
  }
  return {
    sender: senderOf(message),
    time: formatTime(message.receivedAt, timeZone),
    mediaType: content.mediaType,
    ...(content.text !== undefined ? { text: content.text } : {}),
  };
}

export function renderDigest(
  recipient: string,
  messages: HeldMessage[],
  options: { timeZone?: string; vacation?: boolean; chatWith?: string } = {},
): Digest {
  const count = messages.length;
  const noun = `${count} message${count === 1 ? '' : 's'}`;
  const subject = headerSafe(
    options.chatWith ? `Answers to your chat with ${options.chatWith}` : `${noun} while you were away`,
  );
  const intro = options.chatWith
    ? `You had left the chat with ${options.chatWith} when ${count === 1 ? 'this answer' : 'these answers'} came:`
    : options.vacation
      ? `While you were on vacation, ${noun} arrived for ${recipient}:`
      : `${noun} for ${recipient} waited too long to be delivered, so here they are:`;
  const footer = options.chatWith
    ? 'Sent by Holdover. To answer, start a new chat on the website.'
    : 'Sent by Holdover. Reply to the senders in your messaging app.';
  const ordered = [...messages].sort(
    (a, b) => a.receivedAt.localeCompare(b.receivedAt) || a.id.localeCompare(b.id),
  );
  const entries = ordered.map((message) => entryOf(message, options.timeZone));

  const text = [
    intro,
    '',
    ...entries.flatMap((entry) => [
      `From: ${entry.sender}`,
      `Sent: ${entry.time}`,
      entry.text ?? `(${entry.mediaType} content, not shown)`,
      '',
      '---',
      '',
    ]),
    footer,
  ].join('\n');

  const html = [
    '<!doctype html><html><body style="font-family:sans-serif">',
    `<p>${escapeHtml(intro)}</p>`,
    ...entries.map(
      (entry) =>
        `<div style="margin:1em 0;padding:.5em 1em;border-left:3px solid #999">` +
        `<div><strong>${escapeHtml(entry.sender)}</strong> &middot; ${escapeHtml(entry.time)}</div>` +
        (entry.text !== undefined
          ? `<div style="white-space:pre-wrap">${escapeHtml(entry.text)}</div>`
          : `<div><em>(${escapeHtml(entry.mediaType)} content, not shown)</em></div>`) +
        '</div>',
    ),
    `<p style="color:#666">${escapeHtml(footer)}</p>`,
    '</body></html>',
  ].join('\n');
  return { subject, text, html };
}
