// Sessions in the core: the token (HS256 with a key derived from the signing secret, rotation,
// expiry, tampering), the password check against the HA1, and the sign-in slow-down.
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import type { CredentialStore } from '../../functions/core/credentials.ts';
import {
  FREE_FAILURES,
  LONGEST_WAIT_MS,
  mintToken,
  passwordMatches,
  type SessionStore,
  type SignInRecord,
  signIn,
  signInWaitMs,
  TOKEN_LIFETIME_SECONDS,
  TokenRefusedError,
  tokenKey,
  verifyToken,
} from '../../functions/core/session.ts';
import type { Credentials } from '../../shared/contract/views.ts';
import { SignInThrottledError, UnauthorizedError } from '../../shared/errors.ts';
import { ha1s } from '../../shared/sip-digest.ts';

const SECRET = 'session-test-secret-0123456789';
const NOW = Date.parse('2026-12-01T10:00:00Z');

class MemorySessions implements SessionStore {
  records = new Map<string, SignInRecord & { untilMs: number }>();
  revoked = new Map<string, number>();
  current(aor: string, nowMs: number): SignInRecord | undefined {
    const entry = this.records.get(aor);
    return entry && entry.untilMs >= nowMs
      ? { count: entry.count, nextAllowedMs: entry.nextAllowedMs }
      : undefined;
  }
  async signInRecord(aor: string, nowMs: number) {
    return this.current(aor, nowMs);
  }
  async claimAttempt(
    aor: string,
    seen: SignInRecord | undefined,
    next: SignInRecord,
    keepUntilMs: number,
    nowMs: number,
  ) {
    // compared and written in one step, as the store's conditional write is
    if (JSON.stringify(this.current(aor, nowMs)) !== JSON.stringify(seen)) return false;
    this.records.set(aor, { ...next, untilMs: keepUntilMs });
    return true;
  }
  async clearFailures(aor: string) {
    this.records.delete(aor);
  }
  async revoke(jti: string, untilMs: number) {
    this.revoked.set(jti, untilMs);
  }
  async isRevoked(jti: string, nowMs: number) {
    return (this.revoked.get(jti) ?? 0) >= nowMs;
  }
}

function credentialsOf(entries: Record<string, { password: string; admin?: boolean }>): CredentialStore {
  const stored = new Map<string, Credentials>();
  for (const [aor, { password, admin }] of Object.entries(entries)) {
    const [user = '', realm = ''] = aor.slice(4).split('@');
    stored.set(aor, {
      aor,
      realm,
      ha1: ha1s(user, realm, password),
      admin: admin ?? false,
      createdAt: '2026-12-01T00:00:00Z',
      updatedAt: '2026-12-01T00:00:00Z',
    });
  }
  return {
    getCredentials: async (aor) => stored.get(aor),
    putCredentials: async () => {
      throw new Error('not used');
    },
    deleteCredentials: async () => false,
    listUsers: async () => ({ users: [] }),
  };
}

describe('tokens', () => {
  it('carries the AOR and role, lives an hour, and verifies', async () => {
    const { token, expiresAt } = await mintToken([SECRET], { aor: 'sip:bob@example.com', role: 'user' }, NOW);
    expect(Date.parse(expiresAt) - NOW).toBe(TOKEN_LIFETIME_SECONDS * 1000);
    const claims = await verifyToken([SECRET], token, NOW + 1000);
    expect(claims).toMatchObject({ aor: 'sip:bob@example.com', role: 'user' });
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('is refused once expired', async () => {
    const { token } = await mintToken([SECRET], { aor: 'sip:bob@example.com', role: 'user' }, NOW);
    await expect(verifyToken([SECRET], token, NOW + 3601_000)).rejects.toMatchObject({ reason: 'expired' });
  });

  it('is refused when tampered with (role changed, signature kept)', async () => {
    const { token } = await mintToken([SECRET], { aor: 'sip:bob@example.com', role: 'user' }, NOW);
    const [header, payload, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, role: 'admin' })).toString('base64url');
    await expect(verifyToken([SECRET], `${header}.${forged}.${signature}`, NOW)).rejects.toMatchObject({
      reason: 'mismatch',
    });
    await expect(verifyToken([SECRET], 'not.a.token', NOW)).rejects.toBeInstanceOf(TokenRefusedError);
  });

  it('is refused with alg none, or signed with another key, or living longer than an hour', async () => {
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(
      JSON.stringify({ sub: 'sip:bob@example.com', role: 'admin', jti: 'x', exp: NOW / 1000 + 60 }),
    ).toString('base64url')}.`;
    await expect(verifyToken([SECRET], unsigned, NOW)).rejects.toBeInstanceOf(TokenRefusedError);
    const { token: other } = await mintToken(
      ['another-secret-0123456789'],
      { aor: 'sip:a@example.com', role: 'admin' },
      NOW,
    );
    await expect(verifyToken([SECRET], other, NOW)).rejects.toMatchObject({ reason: 'mismatch' });
    const long = await new SignJWT({ role: 'user' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('holdover')
      .setAudience('holdover-api')
      .setSubject('sip:bob@example.com')
      .setJti('long')
      .setIssuedAt(NOW / 1000)
      .setExpirationTime(NOW / 1000 + 86_400)
      .sign(tokenKey(SECRET));
    await expect(verifyToken([SECRET], long, NOW)).rejects.toMatchObject({ reason: 'malformed' });
  });

  it('survives a rotation of the secret list: signed with the first, verified with any', async () => {
    const { token } = await mintToken(
      ['old-secret-0123456789'],
      { aor: 'sip:bob@example.com', role: 'user' },
      NOW,
    );
    await expect(
      verifyToken(['new-secret-0123456789', 'old-secret-0123456789'], token, NOW),
    ).resolves.toMatchObject({
      aor: 'sip:bob@example.com',
    });
  });
});

describe('passwordMatches', () => {
  it('compares the HA1 of the given password with the stored one', () => {
    const stored = ha1s('bob', 'example.com', 'right password')['SHA-256'];
    expect(passwordMatches('sip:bob@example.com', stored, 'right password')).toBe(true);
    expect(passwordMatches('sip:bob@example.com', stored, 'wrong password')).toBe(false);
    expect(passwordMatches('sip:bob@example.com', undefined, 'right password')).toBe(false);
  });
});

describe('signIn', () => {
  const credentials = credentialsOf({
    'sip:bob@example.com': { password: 'bob password' },
    'sip:ada@example.com': { password: 'ada password', admin: true },
  });

  it('gives a user token, or an admin token for an admin', async () => {
    const sessions = new MemorySessions();
    const user = await signIn(
      { credentials, sessions, secrets: [SECRET] },
      { aor: 'sip:bob@example.com', password: 'bob password' },
      NOW,
    );
    expect((await verifyToken([SECRET], user.token, NOW)).role).toBe('user');
    const admin = await signIn(
      { credentials, sessions, secrets: [SECRET] },
      { aor: 'sip:ada@example.com', password: 'ada password' },
      NOW,
    );
    expect((await verifyToken([SECRET], admin.token, NOW)).role).toBe('admin');
  });

  it('answers a wrong password and an unknown address alike', async () => {
    const deps = { credentials, sessions: new MemorySessions(), secrets: [SECRET] };
    const wrong = signIn(deps, { aor: 'sip:bob@example.com', password: 'nope' }, NOW);
    await expect(wrong).rejects.toBeInstanceOf(UnauthorizedError);
    await expect(wrong).rejects.toThrow('Wrong address or password');
    await expect(signIn(deps, { aor: 'sip:nobody@example.com', password: 'nope' }, NOW)).rejects.toThrow(
      'Wrong address or password',
    );
  });

  it(`slows down after ${FREE_FAILURES} failures: 429 until the wait is over, even with the right password`, async () => {
    const sessions = new MemorySessions();
    const deps = { credentials, sessions, secrets: [SECRET] };
    let clock = NOW;
    for (let i = 0; i < FREE_FAILURES; i++) {
      await expect(
        signIn(deps, { aor: 'sip:bob@example.com', password: 'guess' }, clock),
      ).rejects.toBeInstanceOf(UnauthorizedError);
      clock += 10;
    }
    const refused = signIn(deps, { aor: 'sip:bob@example.com', password: 'bob password' }, clock);
    await expect(refused).rejects.toBeInstanceOf(SignInThrottledError);
    await expect(refused).rejects.toMatchObject({ status: 429, retryAfterSeconds: 1 });
    // another address is not slowed by bob's failures
    await expect(
      signIn(deps, { aor: 'sip:ada@example.com', password: 'ada password' }, clock),
    ).resolves.toHaveProperty('token');
    clock += 1000;
    await expect(
      signIn(deps, { aor: 'sip:bob@example.com', password: 'guess' }, clock),
    ).rejects.toBeInstanceOf(UnauthorizedError);
    await expect(
      signIn(deps, { aor: 'sip:bob@example.com', password: 'bob password' }, clock + 1000),
    ).rejects.toMatchObject({ retryAfterSeconds: 1 });
    await expect(
      signIn(deps, { aor: 'sip:bob@example.com', password: 'bob password' }, clock + 2000),
    ).resolves.toHaveProperty('token');
    expect(sessions.records.has('sip:bob@example.com')).toBe(false); // a success starts over
  });

  it('takes one of a burst of parallel guesses for one address', async () => {
    const deps = { credentials, sessions: new MemorySessions(), secrets: [SECRET] };
    const burst = await Promise.allSettled(
      Array.from({ length: 20 }, () => signIn(deps, { aor: 'sip:bob@example.com', password: 'guess' }, NOW)),
    );
    const reasons = burst.map((result) => (result.status === 'rejected' ? result.reason : undefined));
    expect(reasons.filter((reason) => reason instanceof SignInThrottledError).length).toBe(19);
    expect(reasons.filter((reason) => !(reason instanceof SignInThrottledError)).length).toBe(1);
  });

  it('waits double each time, at most 15 minutes', () => {
    expect(signInWaitMs(FREE_FAILURES - 1)).toBe(0);
    expect(signInWaitMs(FREE_FAILURES)).toBe(1000);
    expect(signInWaitMs(FREE_FAILURES + 3)).toBe(8000);
    expect(signInWaitMs(FREE_FAILURES + 40)).toBe(LONGEST_WAIT_MS);
  });
});
