import { describe, expect, it } from 'vitest';
import { UnauthorizedError } from '../../functions/core/errors.ts';
import { signatureOf, signedHeaders, verifySignature } from '../../functions/core/signature.ts';

const secret = 'test-secret-0123456789';
const now = 1_790_000_000_000;

describe('request signature', () => {
  it('is HMAC-SHA256 over timestamp.body in hex with a v1= prefix', () => {
    // Known answer computed independently: printf '1790000000.{}' | openssl dgst -sha256 -hmac test-secret-0123456789
    expect(signatureOf(secret, '1790000000', '{}')).toBe(
      'v1=34965195e27935f5095dfeef359a8ad3d64a14db4d51659d499a3470a10ac500',
    );
    expect(signatureOf(secret, '1790000000', Buffer.from('{}'))).toBe(
      signatureOf(secret, '1790000000', '{}'),
    );
    expect(signatureOf(secret, '1790000000', '{}')).toMatch(/^v1=[0-9a-f]{64}$/);
  });

  it('accepts its own signature within the window', () => {
    const headers = signedHeaders(secret, '{"a":1}', now);
    expect(() => verifySignature(secret, headers, '{"a":1}', now + 299_000)).not.toThrow();
  });

  it('refuses unsigned, wrong-secret, tampered and stale requests', () => {
    const headers = signedHeaders(secret, 'body', now);
    expect(() => verifySignature(secret, {}, 'body', now)).toThrow(UnauthorizedError);
    expect(() => verifySignature('another-secret-123456', headers, 'body', now)).toThrow(/does not match/);
    expect(() => verifySignature(secret, headers, 'body!', now)).toThrow(/does not match/);
    expect(() => verifySignature(secret, headers, 'body', now + 301_000)).toThrow(/5-minute window/);
    expect(() => verifySignature(secret, headers, 'body', now - 301_000)).toThrow(/5-minute window/);
    expect(() =>
      verifySignature(secret, { ...headers, 'x-holdover-timestamp': 'soon' }, 'body', now),
    ).toThrow(/unix seconds/);
    expect(() =>
      verifySignature(secret, { ...headers, 'x-holdover-signature': 'v1=00' }, 'body', now),
    ).toThrow(UnauthorizedError);
  });
});
