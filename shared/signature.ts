import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { UnauthorizedError } from './errors.ts';

/**
 * Request signing between the edge and the API, both ways, and for operator calls (docs/design.md
 * "Security"), version 2:
 *
 *   X-Holdover-Timestamp: <unix seconds>
 *   X-Holdover-Nonce:     <≥ 16 random bytes, base64url>
 *   X-Holdover-Signature: v2=<hex HMAC-SHA256(secret,
 *       METHOD + "\n" + PATH + "?" + QUERY + "\n" + TIMESTAMP + "\n" + NONCE + "\n" + hex(SHA-256(body)))>
 *
 * PATH is the path as sent, in canonical percent-encoding: each segment decoded and re-encoded
 * with encodeURIComponent. A client that builds its path with encodeURIComponent (all of ours do)
 * signs exactly what it sends; the canonical form makes the check independent of whether the
 * receiver sees the path encoded (a Node server, the local API stand-in) or decoded (API Gateway
 * HTTP API delivers `rawPath` percent-decoded). QUERY is the query string as sent, without `?`,
 * empty if none.
 *
 * The functions here are pure: the replay check (a nonce used twice) is the caller's, through the
 * NonceStore port, with the `replayUntilMs` that verifyRequest returns.
 */
/**
 * Signed calls are taken once (docs/design.md "Security"): the nonce of each state-changing call is
 * claimed until its signature's window ends. Shared by every instance that verifies (the table in
 * AWS); the edge, one process, keeps it in memory.
 */
export interface NonceStore {
  /** Records `nonce` as used until `untilMs`; false if it is already recorded and not yet expired. */
  claim(nonce: string, untilMs: number): Promise<boolean>;
}

export const TIMESTAMP_HEADER = 'x-holdover-timestamp';
export const NONCE_HEADER = 'x-holdover-nonce';
export const SIGNATURE_HEADER = 'x-holdover-signature';
export const MAX_SKEW_SECONDS = 300;
const NONCE_BYTES = 16;

/** Why a signature was refused: the 401's `reason` and the metric's dimension. */
export type SignatureFault =
  | 'missing_header'
  | 'bad_timestamp'
  | 'clock_skew'
  | 'bad_nonce'
  | 'unsupported_version'
  | 'mismatch'
  | 'nonce_reused';

export class SignatureRefusedError extends UnauthorizedError {
  constructor(
    readonly reason: SignatureFault,
    message: string,
  ) {
    super(message);
  }
}

/** What a signature covers. `query` without the leading `?`; `body` the raw bytes sent. */
export interface SignedRequest {
  method: string;
  path: string;
  query?: string;
  body?: Uint8Array | string;
}

export interface ReceivedRequest extends SignedRequest {
  headers: Readonly<Record<string, string | undefined>>;
}

/** A verified request: its nonce, and until when a second use of it must be refused. */
export interface VerifiedSignature {
  nonce: string;
  /** The end of the window in which this signature would still verify (ms since epoch). */
  replayUntilMs: number;
}

/** `HOLDOVER_SECRET` may be a comma-separated list: the first signs, any verifies. */
export function parseSecrets(value: string): string[] {
  const secrets = value
    .split(',')
    .map((secret) => secret.trim())
    .filter((secret) => secret !== '');
  if (secrets.length === 0) throw new Error('the signing secret is empty');
  return secrets;
}

/** The secret that signs: the first of the list. */
export function signingSecretOf(secrets: string | readonly string[]): string {
  const list = typeof secrets === 'string' ? parseSecrets(secrets) : secrets;
  const first = list[0];
  if (first === undefined) throw new Error('the signing secret is empty');
  return first;
}

/** Each path segment percent-decoded, then encoded with encodeURIComponent. */
export function canonicalPath(path: string): string {
  return path
    .split('/')
    .map((segment) => {
      let decoded = segment;
      try {
        decoded = decodeURIComponent(segment);
      } catch {
        // a stray `%`: keep the segment as it came, it is encoded below
      }
      return encodeURIComponent(decoded);
    })
    .join('/');
}

/** True for the calls that change state: a reused nonce is refused on these (on the edge, always). */
export function changesState(method: string): boolean {
  return !['GET', 'HEAD', 'OPTIONS'].includes(method.toUpperCase());
}

export function stringToSign(request: SignedRequest, timestamp: string, nonce: string): string {
  const bodyHash = createHash('sha256')
    .update(request.body ?? '')
    .digest('hex');
  return [
    `${request.method.toUpperCase()}`,
    `${canonicalPath(request.path)}?${request.query ?? ''}`,
    timestamp,
    nonce,
    bodyHash,
  ].join('\n');
}

export function signatureOf(
  secret: string,
  request: SignedRequest,
  timestamp: string,
  nonce: string,
): string {
  return `v2=${createHmac('sha256', secret)
    .update(stringToSign(request, timestamp, nonce))
    .digest('hex')}`;
}

/**
 * The three headers for `request`, signed with `secret` (a list: its first). Sign what is sent:
 * for a URL, `signUrl` takes the path and query from the URL object handed to fetch.
 */
export function signRequest(
  secret: string | readonly string[],
  request: SignedRequest,
  nowMs: number = Date.now(),
): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const nonce = randomBytes(NONCE_BYTES).toString('base64url');
  return {
    [TIMESTAMP_HEADER]: timestamp,
    [NONCE_HEADER]: nonce,
    [SIGNATURE_HEADER]: signatureOf(signingSecretOf(secret), request, timestamp, nonce),
  };
}

/** signRequest for a call to `url`: PATH and QUERY exactly as fetch will send them. */
export function signUrl(
  secret: string | readonly string[],
  method: string,
  url: URL,
  body: Uint8Array | string = '',
  nowMs: number = Date.now(),
): Record<string, string> {
  return signRequest(secret, { method, path: url.pathname, query: url.search.slice(1), body }, nowMs);
}

/** Splits a Node `request.url` (`/path?query`) into the PATH and QUERY a signature covers. */
export function pathAndQuery(requestUrl: string): { path: string; query: string } {
  const mark = requestUrl.indexOf('?');
  return mark < 0
    ? { path: requestUrl, query: '' }
    : { path: requestUrl.slice(0, mark), query: requestUrl.slice(mark + 1) };
}

/**
 * Throws SignatureRefusedError (a 401 naming the fault) unless `request` carries a v2 signature by
 * one of `secrets`, made within ±300 s. Does not know whether the nonce was used before: the
 * caller claims it (NonceStore) until `replayUntilMs` for a call that changes state.
 */
export function verifyRequest(
  secrets: readonly string[],
  request: ReceivedRequest,
  nowMs: number = Date.now(),
): VerifiedSignature {
  const timestamp = request.headers[TIMESTAMP_HEADER];
  const nonce = request.headers[NONCE_HEADER];
  const signature = request.headers[SIGNATURE_HEADER];
  const missing = [
    timestamp === undefined ? 'X-Holdover-Timestamp' : undefined,
    nonce === undefined ? 'X-Holdover-Nonce' : undefined,
    signature === undefined ? 'X-Holdover-Signature' : undefined,
  ].filter((name) => name !== undefined);
  if (signature !== undefined && !signature.startsWith('v2=')) {
    throw new SignatureRefusedError(
      'unsupported_version',
      'X-Holdover-Signature must be v2=<hex>: signature v1 is no longer accepted, update the caller',
    );
  }
  if (timestamp === undefined || nonce === undefined || signature === undefined) {
    throw new SignatureRefusedError(
      'missing_header',
      `Request is not signed: missing ${missing.join(', ')} (signature v2, see docs/design.md "Signing")`,
    );
  }
  if (!/^\d{1,12}$/.test(timestamp)) {
    throw new SignatureRefusedError('bad_timestamp', 'X-Holdover-Timestamp must be unix seconds');
  }
  const seconds = Number(timestamp);
  if (Math.abs(nowMs / 1000 - seconds) > MAX_SKEW_SECONDS) {
    throw new SignatureRefusedError(
      'clock_skew',
      'X-Holdover-Timestamp is outside the ±300 s window: check the clocks of both sides',
    );
  }
  if (!/^[A-Za-z0-9_-]{22,128}$/.test(nonce)) {
    throw new SignatureRefusedError(
      'bad_nonce',
      'X-Holdover-Nonce must be at least 16 random bytes in base64url (22+ characters)',
    );
  }
  const given = Buffer.from(signature);
  let matched = false;
  for (const secret of secrets) {
    const expected = Buffer.from(signatureOf(secret, request, timestamp, nonce));
    // Equal-length buffers only; the length itself leaks nothing secret. Every secret is tried,
    // so the time taken does not say which one matched.
    if (expected.length === given.length && timingSafeEqual(expected, given)) matched = true;
  }
  if (!matched) {
    throw new SignatureRefusedError(
      'mismatch',
      'Signature does not match this request (method, path, query, timestamp, nonce and body are signed): check that both sides use the same secret',
    );
  }
  return { nonce, replayUntilMs: (seconds + MAX_SKEW_SECONDS + 1) * 1000 };
}

export function nonceReused(): SignatureRefusedError {
  return new SignatureRefusedError(
    'nonce_reused',
    'X-Holdover-Nonce was already used: a signed call is accepted once, sign each call afresh',
  );
}
