// HTTP digest for SIP (RFC 3261 §22, RFC 7616, RFC 8760: SHA-256 and MD5, qop=auth), the pure
// part: HA1 hashes, the response a UA computes, challenges, the Authorization header, and nonces
// bound to time. The functions compute HA1 when an operator sets a password; the edge verifies
// with it; neither ever stores the password. No I/O here, no AWS import.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const DIGEST_ALGORITHMS = ['SHA-256', 'MD5'] as const;
export type DigestAlgorithm = (typeof DIGEST_ALGORITHMS)[number];

/** How long a nonce may be answered (RFC 7616 §5.5: short; a stale one gets `stale=true`). */
export const NONCE_LIFETIME_SECONDS = 300;

const HASH_OF: Record<DigestAlgorithm, string> = { 'SHA-256': 'sha256', MD5: 'md5' };

export function isDigestAlgorithm(text: string): text is DigestAlgorithm {
  return (DIGEST_ALGORITHMS as readonly string[]).includes(text);
}

function hash(algorithm: DigestAlgorithm, text: string): string {
  return createHash(HASH_OF[algorithm]).update(text, 'utf8').digest('hex');
}

/** H(username ":" realm ":" password) — what is stored instead of the password. */
export function ha1Of(algorithm: DigestAlgorithm, username: string, realm: string, password: string): string {
  return hash(algorithm, `${username}:${realm}:${password}`);
}

/** HA1 for every algorithm Holdover offers. */
export function ha1s(username: string, realm: string, password: string): Record<DigestAlgorithm, string> {
  return {
    'SHA-256': ha1Of('SHA-256', username, realm, password),
    MD5: ha1Of('MD5', username, realm, password),
  };
}

export interface DigestAnswer {
  algorithm: DigestAlgorithm;
  method: string;
  uri: string;
  nonce: string;
  nc: string;
  cnonce: string;
  qop: 'auth';
}

/** KD(HA1, nonce:nc:cnonce:qop:H(method:uri)) — RFC 7616 §3.4.1 with qop=auth. */
export function digestResponse(ha1: string, answer: DigestAnswer): string {
  const ha2 = hash(answer.algorithm, `${answer.method}:${answer.uri}`);
  return hash(answer.algorithm, `${ha1}:${answer.nonce}:${answer.nc}:${answer.cnonce}:${answer.qop}:${ha2}`);
}

/** Parameters of a `Digest` challenge or credentials header (auth-param list, RFC 7235 §2.1). */
export function parseDigestParams(header: string): Map<string, string> | undefined {
  const match = /^\s*Digest\s+/i.exec(header);
  if (!match) return undefined;
  const params = new Map<string, string>();
  const rest = header.slice(match[0].length);
  const param = /\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)/y;
  let index = 0;
  while (index < rest.length) {
    param.lastIndex = index;
    const found = param.exec(rest);
    if (!found?.[1]) return undefined;
    const value = found[2] !== undefined ? found[2].replace(/\\(.)/g, '$1') : (found[3] ?? '');
    params.set(found[1].toLowerCase(), value);
    index = param.lastIndex;
    if (index === found.index) return undefined;
  }
  return params;
}

/** The credentials of an Authorization header, checked for form (not yet for truth). */
export interface DigestCredentials {
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  algorithm: DigestAlgorithm;
  qop: 'auth';
  nc: string;
  cnonce: string;
}

export type CredentialsParse = { ok: true; credentials: DigestCredentials } | { ok: false; problem: string };

/** Reads `Authorization: Digest …`; missing fields, another algorithm or qop are problems. */
export function parseCredentials(header: string): CredentialsParse {
  const params = parseDigestParams(header);
  if (!params) return { ok: false, problem: 'Authorization is not a Digest header' };
  const field = (name: string) => params.get(name);
  for (const name of ['username', 'realm', 'nonce', 'uri', 'response']) {
    if (!field(name)) return { ok: false, problem: `Authorization has no ${name}` };
  }
  // RFC 7616 §3.4: no algorithm parameter means MD5.
  const algorithm = field('algorithm') ?? 'MD5';
  const known = DIGEST_ALGORITHMS.find((candidate) => candidate.toLowerCase() === algorithm.toLowerCase());
  if (!known) return { ok: false, problem: `algorithm ${algorithm} is not offered (SHA-256, MD5)` };
  if (field('qop')?.toLowerCase() !== 'auth') return { ok: false, problem: 'qop=auth is required' };
  const nc = field('nc') ?? '';
  if (!/^[0-9a-fA-F]{8}$/.test(nc)) return { ok: false, problem: 'nc must be 8 hex digits' };
  const cnonce = field('cnonce');
  if (!cnonce) return { ok: false, problem: 'Authorization has no cnonce' };
  return {
    ok: true,
    credentials: {
      username: field('username') ?? '',
      realm: field('realm') ?? '',
      nonce: field('nonce') ?? '',
      uri: field('uri') ?? '',
      response: (field('response') ?? '').toLowerCase(),
      algorithm: known,
      qop: 'auth',
      nc: nc.toLowerCase(),
      cnonce,
    },
  };
}

/** A `WWW-Authenticate` value offering one algorithm (RFC 8760 §2.4: one header per algorithm). */
export function challengeHeader(
  realm: string,
  nonce: string,
  algorithm: DigestAlgorithm,
  stale = false,
): string {
  return `Digest realm="${realm}", nonce="${nonce}", algorithm=${algorithm}, qop="auth"${stale ? ', stale=true' : ''}`;
}

/** The `Authorization` value a UA sends for a challenge (the test UA uses it). */
export function credentialsHeader(
  answer: DigestAnswer & { username: string; realm: string },
  ha1: string,
): string {
  const response = digestResponse(ha1, answer);
  return `Digest username="${answer.username}", realm="${answer.realm}", nonce="${answer.nonce}", uri="${answer.uri}", response="${response}", algorithm=${answer.algorithm}, qop=${answer.qop}, nc=${answer.nc}, cnonce="${answer.cnonce}"`;
}

/** Compares two hex digests in constant time (equal lengths only; length is no secret). */
export function sameDigest(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

// ---- nonces -----------------------------------------------------------------------------------
//
// nonce = base64url(issued (6 bytes, unix seconds) ‖ 9 random bytes ‖ HMAC-SHA256(key, issued ‖
// random ‖ realm)[0..15]). Any edge holding the key can check a nonce without state: the MAC says
// an edge issued it for this realm, the time says whether it is still fresh.

const ISSUED_BYTES = 6;
const RANDOM_BYTES = 9;
const MAC_BYTES = 16;

function nonceMac(key: Buffer, head: Buffer, realm: string): Buffer {
  return createHmac('sha256', key).update(head).update(realm, 'utf8').digest().subarray(0, MAC_BYTES);
}

export function mintNonce(
  key: Buffer,
  realm: string,
  nowMs: number,
  random: Buffer = randomBytes(RANDOM_BYTES),
): string {
  const head = Buffer.alloc(ISSUED_BYTES + RANDOM_BYTES);
  head.writeUIntBE(Math.floor(nowMs / 1000), 0, ISSUED_BYTES);
  random.copy(head, ISSUED_BYTES, 0, RANDOM_BYTES);
  return Buffer.concat([head, nonceMac(key, head, realm)]).toString('base64url');
}

export type NonceCheck = 'fresh' | 'stale' | 'invalid';

/** `invalid`: not ours (or for another realm, or from the future); `stale`: ours but too old. */
export function checkNonce(
  key: Buffer,
  realm: string,
  nonce: string,
  nowMs: number,
  lifetimeSeconds = NONCE_LIFETIME_SECONDS,
): NonceCheck {
  if (!/^[A-Za-z0-9_-]+$/.test(nonce)) return 'invalid';
  const bytes = Buffer.from(nonce, 'base64url');
  if (bytes.length !== ISSUED_BYTES + RANDOM_BYTES + MAC_BYTES) return 'invalid';
  const head = bytes.subarray(0, ISSUED_BYTES + RANDOM_BYTES);
  if (!timingSafeEqual(nonceMac(key, head, realm), bytes.subarray(ISSUED_BYTES + RANDOM_BYTES))) {
    return 'invalid';
  }
  const ageSeconds = nowMs / 1000 - head.readUIntBE(0, ISSUED_BYTES);
  // a little clock skew between edge instances is tolerated, a nonce from the future is not
  if (ageSeconds < -30) return 'invalid';
  return ageSeconds > lifetimeSeconds ? 'stale' : 'fresh';
}

// ---- verification -----------------------------------------------------------------------------

export type DigestVerdict =
  /** The credentials prove the password; `nc` must still be checked against replay. */
  | { kind: 'ok' }
  /** Right password on an expired nonce: challenge again with stale=true. */
  | { kind: 'stale' }
  /** A nonce we did not issue (or for another realm): challenge again. */
  | { kind: 'bad-nonce' }
  /** Credentials for another realm or user, or the wrong password. */
  | { kind: 'wrong'; problem: string };

export interface VerifyInput {
  credentials: DigestCredentials;
  method: string;
  /** The realm and username the request must authenticate as. */
  realm: string;
  username: string;
  /** The stored HA1 for each algorithm. */
  ha1: Partial<Record<DigestAlgorithm, string>>;
  nonceKey: Buffer;
  nowMs: number;
  lifetimeSeconds?: number;
}

export function verifyDigest(input: VerifyInput): DigestVerdict {
  const { credentials } = input;
  if (credentials.realm !== input.realm) {
    return { kind: 'wrong', problem: `credentials are for realm ${credentials.realm}, not ${input.realm}` };
  }
  if (credentials.username !== input.username) {
    return {
      kind: 'wrong',
      problem: `credentials are for user ${credentials.username}, not ${input.username}`,
    };
  }
  const nonce = checkNonce(
    input.nonceKey,
    input.realm,
    credentials.nonce,
    input.nowMs,
    input.lifetimeSeconds,
  );
  if (nonce === 'invalid') return { kind: 'bad-nonce' };
  const ha1 = input.ha1[credentials.algorithm];
  if (ha1 === undefined) return { kind: 'wrong', problem: `no ${credentials.algorithm} credentials stored` };
  const expected = digestResponse(ha1, { ...credentials, method: input.method });
  if (!sameDigest(expected, credentials.response)) return { kind: 'wrong', problem: 'wrong password' };
  return nonce === 'stale' ? { kind: 'stale' } : { kind: 'ok' };
}

/**
 * Which nonce-counts each nonce has used (RFC 7616 §3.4: the server may refuse a nc it saw before).
 * In memory per edge, forgotten when the nonce would be stale anyway; bounded in size.
 */
export class NonceCounts {
  private readonly highest = new Map<string, { nc: number; forgetAt: number }>();

  constructor(
    private readonly lifetimeMs = NONCE_LIFETIME_SECONDS * 1000,
    private readonly maxEntries = 100_000,
  ) {}

  /** Records `nc` for `nonce`; false if it is not above every nc this nonce used before. */
  use(nonce: string, ncHex: string, nowMs: number): boolean {
    const nc = Number.parseInt(ncHex, 16);
    const seen = this.highest.get(nonce);
    if (seen && seen.forgetAt > nowMs && nc <= seen.nc) return false;
    this.highest.delete(nonce);
    this.highest.set(nonce, { nc, forgetAt: nowMs + this.lifetimeMs + 10_000 });
    this.prune(nowMs);
    return true;
  }

  private prune(nowMs: number): void {
    for (const [nonce, entry] of this.highest) {
      if (entry.forgetAt > nowMs && this.highest.size <= this.maxEntries) break;
      this.highest.delete(nonce);
    }
  }
}
