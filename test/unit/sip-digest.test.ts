import { describe, expect, it } from 'vitest';
import {
  challengeHeader,
  checkNonce,
  credentialsHeader,
  type DigestAlgorithm,
  digestResponse,
  ha1Of,
  ha1s,
  mintNonce,
  NonceCounts,
  parseCredentials,
  parseDigestParams,
  verifyDigest,
} from '../../shared/sip-digest.ts';

// RFC 7616 §3.9.1.
const RFC = {
  username: 'Mufasa',
  realm: 'http-auth@example.org',
  password: 'Circle of Life',
  nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
  cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  nc: '00000001',
  qop: 'auth' as const,
  method: 'GET',
  uri: '/dir/index.html',
};

describe('digest response (RFC 7616 §3.9.1 test vectors)', () => {
  it.each([
    ['MD5', '8ca523f5e9506fed4657c9700eebdbec'],
    ['SHA-256', '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1'],
  ] as const)('%s', (algorithm: DigestAlgorithm, expected) => {
    const ha1 = ha1Of(algorithm, RFC.username, RFC.realm, RFC.password);
    expect(digestResponse(ha1, { ...RFC, algorithm })).toBe(expected);
    expect(ha1s(RFC.username, RFC.realm, RFC.password)[algorithm]).toBe(ha1);
  });

  it('reads back the Authorization header a UA builds, quoted and unquoted parameters alike', () => {
    const ha1 = ha1Of('SHA-256', RFC.username, RFC.realm, RFC.password);
    const parsed = parseCredentials(
      credentialsHeader({ ...RFC, algorithm: 'SHA-256', username: RFC.username, realm: RFC.realm }, ha1),
    );
    expect(parsed).toEqual({
      ok: true,
      credentials: {
        username: 'Mufasa',
        realm: RFC.realm,
        nonce: RFC.nonce,
        uri: RFC.uri,
        response: '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
        algorithm: 'SHA-256',
        qop: 'auth',
        nc: '00000001',
        cnonce: RFC.cnonce,
      },
    });
  });

  it('takes a missing algorithm as MD5 and refuses what it cannot check', () => {
    const base = `Digest username="a", realm="r", nonce="n", uri="sip:r", response="00", cnonce="c", nc=00000001`;
    expect(parseCredentials(`${base}, qop=auth`)).toMatchObject({
      ok: true,
      credentials: { algorithm: 'MD5' },
    });
    expect(parseCredentials(`${base}, qop=auth, algorithm=SHA-512-256`)).toMatchObject({ ok: false });
    expect(parseCredentials(base)).toEqual({ ok: false, problem: 'qop=auth is required' });
    expect(parseCredentials(`${base.replace('nc=00000001', 'nc=1')}, qop=auth`)).toMatchObject({ ok: false });
    expect(parseCredentials('Basic YWxhZGRpbjpvcGVuc2VzYW1l')).toMatchObject({ ok: false });
    expect(parseDigestParams('Digest realm="a, b", nonce="x\\"y"')).toEqual(
      new Map([
        ['realm', 'a, b'],
        ['nonce', 'x"y'],
      ]),
    );
  });

  it('writes one challenge per algorithm, stale only when asked', () => {
    expect(challengeHeader('example.com', 'abc', 'SHA-256')).toBe(
      'Digest realm="example.com", nonce="abc", algorithm=SHA-256, qop="auth"',
    );
    expect(challengeHeader('example.com', 'abc', 'MD5', true)).toContain(', stale=true');
  });
});

describe('nonces', () => {
  const key = Buffer.from('0123456789abcdef0123456789abcdef');
  const now = Date.parse('2026-12-01T09:00:00Z');

  it('are fresh for five minutes, then stale; another key, realm or a tampered nonce is invalid', () => {
    const nonce = mintNonce(key, 'example.com', now);
    expect(checkNonce(key, 'example.com', nonce, now)).toBe('fresh');
    expect(checkNonce(key, 'example.com', nonce, now + 299_000)).toBe('fresh');
    expect(checkNonce(key, 'example.com', nonce, now + 301_000)).toBe('stale');
    expect(checkNonce(Buffer.from('another key, same length, 32 by!'), 'example.com', nonce, now)).toBe(
      'invalid',
    );
    expect(checkNonce(key, 'example.org', nonce, now)).toBe('invalid');
    const tampered = `${nonce.slice(0, 3)}${nonce[3] === 'A' ? 'B' : 'A'}${nonce.slice(4)}`;
    expect(checkNonce(key, 'example.com', tampered, now)).toBe('invalid');
    expect(checkNonce(key, 'example.com', 'not a nonce!', now)).toBe('invalid');
    expect(checkNonce(key, 'example.com', nonce, now - 10_000)).toBe('fresh');
    expect(checkNonce(key, 'example.com', nonce, now - 60_000)).toBe('invalid');
  });

  it('refuse a nonce-count used before for the same nonce', () => {
    const counts = new NonceCounts();
    expect(counts.use('n1', '00000001', now)).toBe(true);
    expect(counts.use('n1', '00000001', now)).toBe(false);
    expect(counts.use('n1', '00000002', now)).toBe(true);
    expect(counts.use('n1', '00000002', now)).toBe(false);
    expect(counts.use('n1', '00000001', now)).toBe(false);
    expect(counts.use('n2', '00000001', now)).toBe(true);
  });
});

describe('verifyDigest', () => {
  const key = Buffer.from('0123456789abcdef0123456789abcdef');
  const now = Date.parse('2026-12-01T09:00:00Z');
  const realm = 'example.com';
  const stored = ha1s('bob', realm, 'correct horse');

  function answer(options: {
    password?: string;
    realm?: string;
    username?: string;
    algorithm?: DigestAlgorithm;
    issuedAt?: number;
  }) {
    const algorithm = options.algorithm ?? 'SHA-256';
    const username = options.username ?? 'bob';
    const answerRealm = options.realm ?? realm;
    const nonce = mintNonce(key, answerRealm, options.issuedAt ?? now);
    const header = credentialsHeader(
      {
        username,
        realm: answerRealm,
        nonce,
        uri: 'sip:example.com',
        method: 'REGISTER',
        algorithm,
        qop: 'auth',
        nc: '00000001',
        cnonce: 'c0ffee',
      },
      ha1Of(algorithm, username, answerRealm, options.password ?? 'correct horse'),
    );
    const parsed = parseCredentials(header);
    if (!parsed.ok) throw new Error(parsed.problem);
    return verifyDigest({
      credentials: parsed.credentials,
      method: 'REGISTER',
      realm,
      username: 'bob',
      ha1: stored,
      nonceKey: key,
      nowMs: now,
    });
  }

  it('accepts the right password with either algorithm', () => {
    expect(answer({})).toEqual({ kind: 'ok' });
    expect(answer({ algorithm: 'MD5' })).toEqual({ kind: 'ok' });
  });

  it('refuses a wrong password, realm or user', () => {
    expect(answer({ password: 'wrong horse' })).toEqual({ kind: 'wrong', problem: 'wrong password' });
    expect(answer({ realm: 'example.org' })).toMatchObject({ kind: 'wrong' });
    expect(answer({ username: 'alice' })).toMatchObject({ kind: 'wrong' });
  });

  it('calls an expired nonce with the right password stale, and with the wrong one wrong', () => {
    expect(answer({ issuedAt: now - 600_000 })).toEqual({ kind: 'stale' });
    expect(answer({ issuedAt: now - 600_000, password: 'guess' })).toMatchObject({ kind: 'wrong' });
  });

  it('refuses a nonce it did not issue', () => {
    const parsed = parseCredentials(
      'Digest username="bob", realm="example.com", nonce="forged", uri="sip:example.com", response="00", algorithm=MD5, qop=auth, nc=00000001, cnonce="c"',
    );
    if (!parsed.ok) throw new Error(parsed.problem);
    expect(
      verifyDigest({
        credentials: parsed.credentials,
        method: 'REGISTER',
        realm,
        username: 'bob',
        ha1: stored,
        nonceKey: key,
        nowMs: now,
      }),
    ).toEqual({ kind: 'bad-nonce' });
  });
});
