// One address normaliser on both sides of the HTTP hop: the edge's aorOf (after its RFC 3261
// parse) and the core's normalizeAor file a user under the same address-of-record.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeAor } from '../../shared/aor.ts';
import { aorOf } from '../../shared/sip/uri.ts';

const UNRESERVED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!~*'()";
const USER_UNRESERVED = '&=+$,;?/';
const hex = (ch: string) => `%${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;

/** A user part as a sender may write it: plain, or any character escaped, in either hex case. */
const userPart = fc
  .array(
    fc.oneof(
      fc
        .constantFrom(...UNRESERVED, ...USER_UNRESERVED)
        .chain((ch) => fc.constantFrom(ch, hex(ch), hex(ch).toUpperCase())),
      // characters that must stay escaped: space, '@', '%', non-ASCII bytes
      fc.constantFrom('%20', '%40', '%25', '%c3%a9', '%00'),
    ),
    { minLength: 1, maxLength: 12 },
  )
  .map((parts) => parts.join(''));
const host = fc.oneof(
  fc.constantFrom('example.com', 'EXAMPLE.com', 'Sub.Example.COM', '127.0.0.1', 'localhost', '[2001:DB8::1]'),
);
const uri = fc
  .record({
    scheme: fc.constantFrom('sip', 'sips', 'SIP', 'Sips'),
    user: userPart,
    password: fc.option(fc.constantFrom('secret', 'pw'), { nil: undefined }),
    host,
    port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    params: fc.constantFrom('', ';transport=tcp', ';user=phone;lr', ';maddr=10.0.0.1'),
    headers: fc.constantFrom('', '?subject=hi', '?a=b&c=d'),
  })
  .map(
    (u) =>
      `${u.scheme}:${u.user}${u.password ? `:${u.password}` : ''}@${u.host}${u.port ? `:${u.port}` : ''}${u.params}${u.headers}`,
  );

describe('one address normaliser', () => {
  it.each([
    ['sip:b%6Fb@example.com', 'sip:bob@example.com'],
    ['sips:Bob@EXAMPLE.COM:5061;transport=tls?subject=x', 'sip:Bob@example.com'],
    ['<sip:alice@Example.com>', 'sip:alice@example.com'],
    ['sip:u%c3%a9@example.com', 'sip:u%C3%A9@example.com'],
    ['sip:a%2fb@example.com', 'sip:a/b@example.com'],
    ['sip:user;par=u%40example.net@example.com', 'sip:user;par=u%40example.net@example.com'],
    ['sip:bob:pw@[2001:DB8::1]:5060', 'sip:bob@[2001:db8::1]'],
  ])('normalizes %s to %s on both sides', (text, aor) => {
    expect(normalizeAor(text)).toBe(aor);
    expect(aorOf(text.replace(/^<|>$/g, ''))).toBe(aor);
  });

  it('agrees with the edge on every URI the edge accepts, and is idempotent (property)', () => {
    fc.assert(
      fc.property(uri, (text) => {
        const atEdge = aorOf(text);
        expect(normalizeAor(text)).toBe(atEdge);
        // the edge posts the AOR (presence) or the raw URI (capture): either files the same user
        expect(normalizeAor(atEdge)).toBe(atEdge);
        expect(normalizeAor(`<${text}>`)).toBe(atEdge);
      }),
      { numRuns: 2000 },
    );
  });

  it('files an escaped spelling of a user under the plain one (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9.\-_]{1,10}$/), fc.nat(), (name, seed) => {
        const escaped = [...name].map((ch, i) => ((seed >> (i % 30)) & 1 ? hex(ch) : ch)).join('');
        expect(normalizeAor(`sip:${escaped}@Example.com`)).toBe(`sip:${name}@example.com`);
      }),
    );
  });

  it.each(['tel:+15551234', 'sip:example.com', 'mailto:a@example.com', 'sip:a b@example.com', 'sip:a@'])(
    'refuses %s',
    (text) => {
      expect(() => normalizeAor(text)).toThrow(/not a SIP address of record/);
    },
  );
});
