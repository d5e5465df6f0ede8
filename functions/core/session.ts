// People's sessions (docs/design.md "Security"): signing in with the SIP password, the bearer
// token (a JWT, HS256, at most an hour), signing out, and the slow-down of repeated failures.
// The password is checked against the stored HA1 hash and never kept. The token key is derived
// from each signing secret (HMAC of a fixed label): the first secret signs, any verifies, so a
// rotation of HOLDOVER_SECRET keeps tokens valid until they expire. No I/O, no AWS import.
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { type JWTPayload, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { normalizeAor } from '../../shared/aor.ts';
import { SignInThrottledError, UnauthorizedError } from '../../shared/errors.ts';
import { ha1Of } from '../../shared/sip-digest.ts';
import * as z from '../../shared/zod.ts';
import { type CredentialStore, digestIdentity } from './credentials.ts';

/** A token lives at most one hour (docs/design.md "Security"). */
export const TOKEN_LIFETIME_SECONDS = 3600;
const ISSUER = 'holdover';
const AUDIENCE = 'holdover-api';
const KEY_LABEL = 'holdover session token key v1';

/** Failures tolerated before the slow-down starts; then 1 s, 2 s, 4 s … up to 15 minutes. */
export const FREE_FAILURES = 5;
export const FIRST_WAIT_MS = 1000;
export const LONGEST_WAIT_MS = 15 * 60_000;
/** A failure is forgotten this long after the last one (the store's TTL). */
export const FAILURE_MEMORY_MS = 60 * 60_000;

export type Role = 'user' | 'admin';

export const SignInSchema = z.strictObject({
  aor: z.string().check(z.minLength(1, 'enter your SIP address, e.g. sip:bob@example.com'), z.maxLength(256)),
  password: z.string().check(z.minLength(1, 'enter your password'), z.maxLength(128)),
});
export type SignIn = z.infer<typeof SignInSchema>;

export interface Session {
  token: string;
  expiresAt: string;
}

/** What a valid token says. */
export interface TokenClaims {
  aor: string;
  role: Role;
  jti: string;
  /** Epoch milliseconds. */
  expiresAtMs: number;
}

/** Why a token was refused, in `error.reason` (as SignatureRefusedError does for signatures). */
export type TokenFault = 'malformed' | 'expired' | 'mismatch' | 'revoked';

export class TokenRefusedError extends UnauthorizedError {
  constructor(
    readonly reason: TokenFault,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Sign-in attempts of one AOR not yet followed by a success, and when the next may be made.
 * Kept by the store until FAILURE_MEMORY_MS (+ the longest wait) after the last attempt.
 */
export interface SignInRecord {
  count: number;
  nextAllowedMs: number;
}

/** Port: sign-in attempts and revoked tokens, each kept only as long as it matters (TTL). */
export interface SessionStore {
  /** Undefined when there is none, or its time has passed. */
  signInRecord(aor: string, nowMs: number): Promise<SignInRecord | undefined>;
  /**
   * Replaces the record with `next` only if it is still `seen` (undefined: there was none), in
   * one conditional write; false if another attempt came in between. So attempts for one AOR
   * are taken one at a time, and a burst of parallel guesses gets one.
   */
  claimAttempt(
    aor: string,
    seen: SignInRecord | undefined,
    next: SignInRecord,
    keepUntilMs: number,
    nowMs: number,
  ): Promise<boolean>;
  clearFailures(aor: string): Promise<void>;
  /** The token `jti` is refused from now until `untilMs` (its expiry). */
  revoke(jti: string, untilMs: number): Promise<void>;
  isRevoked(jti: string, nowMs: number): Promise<boolean>;
}

/** The HS256 key of one signing secret: HMAC-SHA256(secret, fixed label). */
export function tokenKey(secret: string): Uint8Array {
  return new Uint8Array(createHmac('sha256', secret).update(KEY_LABEL).digest());
}

/** How long to wait after `failures` failed sign-ins, counted from the last one. */
export function signInWaitMs(failures: number): number {
  if (failures < FREE_FAILURES) return 0;
  return Math.min(LONGEST_WAIT_MS, FIRST_WAIT_MS * 2 ** Math.min(failures - FREE_FAILURES, 30));
}

export async function mintToken(
  secrets: readonly string[],
  subject: { aor: string; role: Role },
  nowMs: number = Date.now(),
  lifetimeSeconds: number = TOKEN_LIFETIME_SECONDS,
): Promise<Session & { jti: string }> {
  const [signing] = secrets;
  if (signing === undefined) throw new Error('no signing secret to derive the token key from');
  const issuedAt = Math.floor(nowMs / 1000);
  const expiresAt = issuedAt + Math.min(lifetimeSeconds, TOKEN_LIFETIME_SECONDS);
  const jti = randomUUID();
  const token = await new SignJWT({ role: subject.role })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(subject.aor)
    .setJti(jti)
    .setIssuedAt(issuedAt)
    .setExpirationTime(expiresAt)
    .sign(tokenKey(signing));
  return { token, expiresAt: new Date(expiresAt * 1000).toISOString(), jti };
}

const ClaimsSchema = z.object({
  sub: z.string(),
  role: z.enum(['user', 'admin']),
  jti: z.string().check(z.minLength(1)),
  exp: z.number(),
});

/** What a refusal tells the caller to do, per fault (a fault of `read` is its own). */
export interface RefusalTexts {
  expired: string;
  malformed: string;
  mismatch: string;
}

/**
 * A token's claims, once its signature (by any of the secrets, each turned into its key by
 * `keyOf`), issuer, audience, expiry and required claims are checked; `read` checks and maps the
 * payload (a TokenRefusedError it throws goes out as is). Shared by the session and chat tokens.
 */
export async function verifySigned<T>(
  token: string,
  secrets: readonly string[],
  keyOf: (secret: string) => Uint8Array,
  expect: { audience: string; requiredClaims: string[]; nowMs: number },
  say: RefusalTexts,
  read: (payload: JWTPayload) => T,
): Promise<T> {
  for (const secret of secrets) {
    try {
      const { payload } = await jwtVerify(token, keyOf(secret), {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: expect.audience,
        currentDate: new Date(expect.nowMs),
        requiredClaims: expect.requiredClaims,
      });
      return read(payload);
    } catch (error) {
      if (error instanceof joseErrors.JWSSignatureVerificationFailed) continue; // another secret?
      if (error instanceof TokenRefusedError) throw error;
      if (error instanceof joseErrors.JWTExpired) throw new TokenRefusedError('expired', say.expired);
      throw new TokenRefusedError('malformed', say.malformed);
    }
  }
  throw new TokenRefusedError('mismatch', say.mismatch);
}

/** Checks a token's signature (any of the secrets), issuer, audience and expiry. */
export function verifyToken(
  secrets: readonly string[],
  token: string,
  nowMs: number = Date.now(),
): Promise<TokenClaims> {
  return verifySigned(
    token,
    secrets,
    tokenKey,
    { audience: AUDIENCE, requiredClaims: ['sub', 'jti', 'exp', 'iat'], nowMs },
    {
      expired: 'The token has expired: sign in again',
      malformed: 'The token is not a Holdover token: sign in again',
      mismatch: 'The token was not issued by this system: sign in again',
    },
    (payload) => {
      const claims = ClaimsSchema.safeParse(payload);
      if (!claims.success) throw new TokenRefusedError('malformed', 'The token lacks its subject or role');
      if (claims.data.exp - Number(payload.iat) > TOKEN_LIFETIME_SECONDS) {
        throw new TokenRefusedError('malformed', 'The token lives longer than an hour');
      }
      return {
        aor: normalizeAor(claims.data.sub),
        role: claims.data.role,
        jti: claims.data.jti,
        expiresAtMs: claims.data.exp * 1000,
      };
    },
  );
}

/** Compares the password's HA1 (SHA-256, realm = the AOR's domain) with the stored one in constant time. */
export function passwordMatches(aor: string, storedSha256Ha1: string | undefined, password: string): boolean {
  const { username, realm } = digestIdentity(aor);
  const given = Buffer.from(ha1Of('SHA-256', username, realm, password), 'hex');
  // Without credentials, compare against a hash nobody has, so both cases take the same time.
  const expected = Buffer.from(storedSha256Ha1 ?? '0'.repeat(64), 'hex');
  const same = expected.length === given.length && timingSafeEqual(expected, given);
  return same && storedSha256Ha1 !== undefined;
}

const WRONG = 'Wrong address or password';

/**
 * Signs a person in with their SIP password. A wrong address and a wrong password answer alike.
 * Each attempt is counted before the password is looked at (and the count dropped on success);
 * after FREE_FAILURES failures for one AOR each attempt must wait (429 with the seconds left),
 * and attempts for one AOR are taken one at a time.
 */
export async function signIn(
  deps: { credentials: CredentialStore; sessions: SessionStore; secrets: readonly string[] },
  request: SignIn,
  nowMs: number = Date.now(),
): Promise<Session> {
  let aor: string;
  try {
    aor = normalizeAor(request.aor);
  } catch {
    throw new UnauthorizedError(`${WRONG} (an address looks like sip:bob@example.com)`);
  }
  const seen = await deps.sessions.signInRecord(aor, nowMs);
  if (seen && nowMs < seen.nextAllowedMs) {
    throw new SignInThrottledError(Math.ceil((seen.nextAllowedMs - nowMs) / 1000));
  }
  const count = (seen?.count ?? 0) + 1;
  const wait = signInWaitMs(count);
  const keepUntil = nowMs + FAILURE_MEMORY_MS + LONGEST_WAIT_MS;
  if (
    !(await deps.sessions.claimAttempt(aor, seen, { count, nextAllowedMs: nowMs + wait }, keepUntil, nowMs))
  ) {
    throw new SignInThrottledError(1); // another attempt for this address is being checked
  }
  const stored = await deps.credentials.getCredentials(aor);
  if (!passwordMatches(aor, stored?.ha1['SHA-256'], request.password) || stored === undefined) {
    throw new UnauthorizedError(
      wait > 0 ? `${WRONG}; wait ${Math.ceil(wait / 1000)} s before trying again` : WRONG,
    );
  }
  await deps.sessions.clearFailures(aor);
  const { token, expiresAt } = await mintToken(
    deps.secrets,
    { aor, role: stored.admin ? 'admin' : 'user' },
    nowMs,
  );
  return { token, expiresAt };
}
