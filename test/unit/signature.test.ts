import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UnauthorizedError } from '../../shared/errors.ts';
import { MemoryNonces } from '../../shared/memory-nonces.ts';
import {
  canonicalPath,
  NONCE_HEADER,
  parseSecrets,
  type ReceivedRequest,
  SIGNATURE_HEADER,
  type SignatureFault,
  SignatureRefusedError,
  type SignedRequest,
  signatureOf,
  signRequest,
  signUrl,
  TIMESTAMP_HEADER,
  verifyRequest,
} from '../../shared/signature.ts';

const secret = 'test-secret-0123456789';
const now = 1_790_000_000_000;
const nonce = 'AAAAAAAAAAAAAAAAAAAAAA'; // 16 zero bytes, base64url

const heldRequest: SignedRequest = {
  method: 'GET',
  path: '/v1/users/sip%3Abob%40example.com/messages',
  query: 'limit=10',
};
const captureRequest: SignedRequest = {
  method: 'POST',
  path: '/v1/messages',
  body: '{"to":"sip:bob@example.com"}',
};

function faultOf(run: () => unknown): SignatureFault | undefined {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(UnauthorizedError);
    return error instanceof SignatureRefusedError ? error.reason : undefined;
  }
  return undefined;
}

function received(request: SignedRequest, headers: Record<string, string>): ReceivedRequest {
  return { ...request, headers };
}

describe('request signature v2', () => {
  it('is hex HMAC-SHA256 over method, path?query, timestamp, nonce and the body hash', () => {
    // Known answers computed independently with openssl:
    //   printf 'GET\n/v1/users/sip%%3Abob%%40example.com/messages?limit=10\n1790000000\nAAAAAAAAAAAAAAAAAAAAAA\n'"$(printf '' | sha256sum | cut -c1-64)" \
    //     | openssl dgst -sha256 -hmac test-secret-0123456789
    expect(signatureOf(secret, heldRequest, '1790000000', nonce)).toBe(
      'v2=80f974178c393b8e678d6a0e2f0b314f2b287f57bfc9a4edccac7c6e8f2212d9',
    );
    // POST /v1/messages with body {} (empty query: the "?" is still there)
    expect(
      signatureOf(secret, { method: 'POST', path: '/v1/messages', body: '{}' }, '1790000000', nonce),
    ).toBe('v2=0b390475d5816f715bd73e72f6f78cfc77f0e4756990fd78b6b401df34ed066e');
    expect(signatureOf(secret, { ...captureRequest, body: Buffer.from('{}') }, '1', nonce)).toBe(
      signatureOf(secret, { ...captureRequest, body: '{}' }, '1', nonce),
    );
  });

  it('sends a fresh nonce of at least 16 random bytes in base64url with each call', () => {
    const first = signRequest(secret, captureRequest, now);
    const second = signRequest(secret, captureRequest, now);
    expect(first[TIMESTAMP_HEADER]).toBe('1790000000');
    expect(first[NONCE_HEADER]).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    expect(Buffer.from(first[NONCE_HEADER] ?? '', 'base64url').length).toBeGreaterThanOrEqual(16);
    expect(first[NONCE_HEADER]).not.toBe(second[NONCE_HEADER]);
    expect(first[SIGNATURE_HEADER]).toMatch(/^v2=[0-9a-f]{64}$/);
  });

  it('accepts its own signature within ±300 s and says until when a replay must be refused', () => {
    const headers = signRequest(secret, captureRequest, now);
    const verified = verifyRequest([secret], received(captureRequest, headers), now + 299_000);
    expect(verified.nonce).toBe(headers[NONCE_HEADER]);
    expect(verified.replayUntilMs).toBeGreaterThan(now + 300_000);
    expect(() => verifyRequest([secret], received(captureRequest, headers), now - 299_000)).not.toThrow();
  });

  it('refuses each field tampered with: method, path, query, timestamp, nonce, body', () => {
    const headers = signRequest(secret, heldRequest, now);
    const refusal = (request: SignedRequest, changed: Record<string, string> = {}) =>
      faultOf(() => verifyRequest([secret], received(request, { ...headers, ...changed }), now));
    expect(refusal(heldRequest)).toBeUndefined();
    expect(refusal({ ...heldRequest, method: 'DELETE' })).toBe('mismatch');
    expect(refusal({ ...heldRequest, path: '/v1/users/sip%3Aeve%40example.com/messages' })).toBe('mismatch');
    expect(refusal({ ...heldRequest, path: '/v1/stats' })).toBe('mismatch');
    expect(refusal({ ...heldRequest, query: 'limit=1000' })).toBe('mismatch');
    expect(refusal({ ...heldRequest, query: '' })).toBe('mismatch');
    expect(refusal({ ...heldRequest, body: 'x' })).toBe('mismatch');
    expect(refusal(heldRequest, { [TIMESTAMP_HEADER]: '1790000001' })).toBe('mismatch');
    expect(refusal(heldRequest, { [NONCE_HEADER]: 'BBBBBBBBBBBBBBBBBBBBBB' })).toBe('mismatch');
    expect(refusal(heldRequest, { [SIGNATURE_HEADER]: 'v2=00' })).toBe('mismatch');
  });

  it('a signature for GET /v1/stats does not open GET /v1/users/<aor>/messages', () => {
    const stats: SignedRequest = { method: 'GET', path: '/v1/stats' };
    const headers = signRequest(secret, stats, now);
    expect(faultOf(() => verifyRequest([secret], received(heldRequest, headers), now))).toBe('mismatch');
  });

  it('names the fault: missing header, bad timestamp, clock, bad nonce, wrong secret', () => {
    const headers = signRequest(secret, captureRequest, now);
    const without = (name: string) =>
      Object.fromEntries(Object.entries(headers).filter(([key]) => key !== name));
    const fault = (given: Record<string, string>, at = now, secrets = [secret]) =>
      faultOf(() => verifyRequest(secrets, received(captureRequest, given), at));
    expect(fault({})).toBe('missing_header');
    expect(fault(without(NONCE_HEADER))).toBe('missing_header');
    expect(fault(without(TIMESTAMP_HEADER))).toBe('missing_header');
    expect(fault(without(SIGNATURE_HEADER))).toBe('missing_header');
    expect(fault({ ...headers, [TIMESTAMP_HEADER]: 'soon' })).toBe('bad_timestamp');
    expect(fault(headers, now + 301_000)).toBe('clock_skew');
    expect(fault(headers, now - 301_000)).toBe('clock_skew');
    expect(fault({ ...headers, [NONCE_HEADER]: 'short' })).toBe('bad_nonce');
    expect(fault(headers, now, ['another-secret-123456'])).toBe('mismatch');
    expect(() => verifyRequest([secret], received(captureRequest, {}), now)).toThrow(/X-Holdover-Nonce/);
    expect(() => verifyRequest([secret], received(captureRequest, headers), now + 400_000)).toThrow(/clock/);
  });

  it('refuses signature v1', () => {
    const timestamp = '1790000000';
    const body = String(captureRequest.body);
    const v1 = `v1=${createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')}`;
    const fault = (headers: Record<string, string>) =>
      faultOf(() => verifyRequest([secret], received(captureRequest, headers), now));
    expect(fault({ [TIMESTAMP_HEADER]: timestamp, [SIGNATURE_HEADER]: v1 })).toBe('unsupported_version');
    expect(fault({ [TIMESTAMP_HEADER]: timestamp, [NONCE_HEADER]: nonce, [SIGNATURE_HEADER]: v1 })).toBe(
      'unsupported_version',
    );
  });

  it('signs the path as sent and verifies it whether the receiver sees it encoded or decoded', () => {
    const url = new URL('http://api.example/v1/users/sip%3Abob%40example.com/messages?limit=10&after=x%2By');
    const headers = signUrl(secret, 'GET', url, '', now);
    const asSent = { method: 'GET', path: url.pathname, query: 'limit=10&after=x%2By', headers };
    expect(() => verifyRequest([secret], asSent, now)).not.toThrow();
    // API Gateway HTTP API hands the handler rawPath percent-decoded
    expect(() =>
      verifyRequest([secret], { ...asSent, path: '/v1/users/sip:bob@example.com/messages' }, now),
    ).not.toThrow();
    expect(canonicalPath('/v1/users/sip:bob@example.com/messages')).toBe(url.pathname);
    // a decoded slash is another path, not the same one
    expect(canonicalPath('/v1/users/a%2Fb')).not.toBe(canonicalPath('/v1/users/a/b'));
    expect(canonicalPath('/v1/%zz')).toBe('/v1/%25zz');
  });

  it('rotation: the first secret signs, any secret in the list verifies', () => {
    const [next, previous] = parseSecrets(' new-secret-0123456789 , old-secret-0123456789 ');
    expect([next, previous]).toEqual(['new-secret-0123456789', 'old-secret-0123456789']);
    const list = [next ?? '', previous ?? ''];
    const byList = signRequest(list, captureRequest, now);
    // signed with the first: a verifier that knows only the new secret accepts it
    expect(() => verifyRequest([list[0] ?? ''], received(captureRequest, byList), now)).not.toThrow();
    expect(faultOf(() => verifyRequest([list[1] ?? ''], received(captureRequest, byList), now))).toBe(
      'mismatch',
    );
    // a caller still on the old secret is accepted while the old one is second in the list
    const byOld = signRequest('old-secret-0123456789', captureRequest, now);
    expect(() => verifyRequest(list, received(captureRequest, byOld), now)).not.toThrow();
    // and refused once it is removed
    expect(faultOf(() => verifyRequest([list[0] ?? ''], received(captureRequest, byOld), now))).toBe(
      'mismatch',
    );
    // the comma-separated string form signs with its first entry too
    const byString = signRequest('new-secret-0123456789,old-secret-0123456789', captureRequest, now);
    expect(() => verifyRequest([list[0] ?? ''], received(captureRequest, byString), now)).not.toThrow();
    expect(() => parseSecrets(' , ')).toThrow(/empty/);
  });
});

describe('nonce replay (MemoryNonces, the edge store)', () => {
  it('takes a nonce once within its window, again only after it', async () => {
    let clock = now;
    const nonces = new MemoryNonces(10, () => clock);
    const headers = signRequest(secret, captureRequest, now);
    const { nonce: used, replayUntilMs } = verifyRequest([secret], received(captureRequest, headers), now);
    expect(await nonces.claim(used, replayUntilMs)).toBe(true);
    expect(await nonces.claim(used, replayUntilMs)).toBe(false);
    clock = replayUntilMs - 1;
    expect(await nonces.claim(used, replayUntilMs)).toBe(false);
    // past the window the signature itself is refused (clock), so the entry can go
    clock = replayUntilMs + 1;
    expect(faultOf(() => verifyRequest([secret], received(captureRequest, headers), clock))).toBe(
      'clock_skew',
    );
    expect(await nonces.claim(used, clock + 1000)).toBe(true);
  });

  it('is bounded: expired entries make room, live ones are never forgotten', async () => {
    let clock = now;
    const nonces = new MemoryNonces(3, () => clock);
    for (const n of ['a', 'b', 'c']) expect(await nonces.claim(n, now + 1000)).toBe(true);
    await expect(nonces.claim('d', now + 1000)).rejects.toThrow(/signed calls within the signature window/);
    expect(await nonces.claim('a', now + 1000)).toBe(false);
    clock = now + 2000;
    expect(await nonces.claim('d', clock + 1000)).toBe(true);
    expect(nonces.size).toBe(1);
  });
});
