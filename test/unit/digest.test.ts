import { describe, expect, it } from 'vitest';
import { renderDigest } from '../../functions/core/digest.ts';
import { mailboxOf } from '../../functions/core/expiry.ts';
import type { HeldMessage } from '../../functions/core/held-message.ts';

const message = (n: number, body: string, overrides: Partial<HeldMessage> = {}): HeldMessage => ({
  id: `m${n}`,
  recipient: 'sip:carol@example.com',
  sender: 'sip:alice@example.com',
  senderUri: 'sip:alice@example.com',
  senderName: 'Alice "Al" <Admin>',
  callId: `c${n}`,
  cseq: 1,
  contentType: 'text/plain;charset=UTF-8',
  body: Buffer.from(body, 'utf8'),
  receivedAt: `2026-11-21T10:0${n}:00.000Z`,
  expiresAt: '2026-11-24T10:00:00.000Z',
  state: 'expiring',
  ...overrides,
});

describe('renderDigest', () => {
  const digest = renderDigest('sip:carol@example.com', [
    message(2, 'second: Grüße 🎉'),
    message(1, '<script>alert(1)</script> & more'),
    message(3, 'ignored', { contentType: 'message/imdn+xml' }),
  ]);

  it('counts in the subject and keeps it a single header line', () => {
    expect(digest.subject).toBe('3 messages while you were away');
    expect(renderDigest('sip:c@example.com', [message(1, 'x')]).subject).toBe(
      '1 message while you were away',
    );
  });

  it('lists entries oldest first with sender, time and text', () => {
    const first = digest.text.indexOf('<script>alert(1)</script> & more');
    const second = digest.text.indexOf('second: Grüße 🎉');
    expect(first).toBeGreaterThan(0);
    expect(second).toBeGreaterThan(first);
    expect(digest.text).toContain('From: Alice "Al" <Admin> <sip:alice@example.com>');
    expect(digest.text).toContain('21 Nov 2026, 10:01 UTC');
  });

  it('escapes every piece of user content in the HTML part', () => {
    expect(digest.html).not.toContain('<script>');
    expect(digest.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; more');
    expect(digest.html).toContain('Alice &quot;Al&quot; &lt;Admin&gt;');
    expect(digest.html).toContain('second: Grüße 🎉');
  });

  it('names non-text content instead of dropping it', () => {
    expect(digest.text).toContain('(message/imdn+xml content, not shown)');
    expect(digest.html).toContain('(message/imdn+xml content, not shown)');
  });

  it("uses the user's time zone", () => {
    const berlin = renderDigest('sip:c@example.com', [message(1, 'x')], { timeZone: 'Europe/Berlin' });
    expect(berlin.text).toContain('21 Nov 2026, 11:01 Europe/Berlin');
  });
});

describe('mailboxOf', () => {
  it('prefers the configured address, else maps the AOR, never to an IP or localhost', () => {
    expect(mailboxOf('sip:bob@example.com', 'robert@mail.example.com')).toBe('robert@mail.example.com');
    expect(mailboxOf('sip:bob@example.com', undefined)).toBe('bob@example.com');
    expect(mailboxOf('sip:bob@127.0.0.1', undefined)).toBeUndefined();
    expect(mailboxOf('sip:bob@localhost', undefined)).toBeUndefined();
  });
});
