import { describe, expect, it } from 'vitest';
import { parseCpim } from '../../functions/core/cpim.ts';
import { InvalidRequestError } from '../../shared/errors.ts';

const cpim = (body: string, eol = '\r\n') =>
  Buffer.from(
    [
      'From: Alice <sip:alice@example.com>',
      'To: <sip:bob@example.com>',
      'DateTime: 2026-11-21T10:00:00Z',
      'NS: imdn <urn:ietf:params:imdn>',
      'imdn.Message-ID: 34jk324j',
      'imdn.Disposition-Notification: positive-delivery, negative-delivery',
      '',
      'Content-Type: text/plain; charset=utf-8',
      '',
      body,
    ].join(eol),
  );

describe('parseCpim', () => {
  it('unwraps the inner type and keeps the body bytes exactly', () => {
    const envelope = parseCpim(cpim('Hallo Bob 👋\r\nzweite Zeile'));
    expect(envelope.contentType).toBe('text/plain; charset=utf-8');
    expect(Buffer.from(envelope.body).toString('utf8')).toBe('Hallo Bob 👋\r\nzweite Zeile');
    expect(envelope.from).toBe('Alice <sip:alice@example.com>');
    expect(envelope.dateTime).toBe('2026-11-21T10:00:00Z');
    expect(envelope.imdnMessageId).toBe('34jk324j');
    expect(envelope.imdnDisposition).toBe('positive-delivery, negative-delivery');
  });

  it('resolves the IMDN namespace by its URN, whatever the prefix', () => {
    const text =
      'NS: x <urn:ietf:params:imdn>\r\nx.Message-ID: abc\r\nimdn.Message-ID: wrong\r\n\r\nContent-Type: text/plain\r\n\r\nhi';
    expect(parseCpim(Buffer.from(text)).imdnMessageId).toBe('abc');
  });

  it('accepts bare LF line ends', () => {
    expect(Buffer.from(parseCpim(cpim('hi', '\n')).body).toString()).toBe('hi');
  });

  it('refuses a body without the blank lines or an inner Content-Type', () => {
    expect(() => parseCpim(Buffer.from('From: a\r\nno blank line'))).toThrow(InvalidRequestError);
    expect(() => parseCpim(Buffer.from('From: a\r\n\r\nContent-ID: x\r\n\r\nbody'))).toThrow(
      /no Content-Type/,
    );
  });
});
