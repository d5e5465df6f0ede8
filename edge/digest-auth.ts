// Digest authentication at the edge (docs/design.md "Security", RFC 3261 §22, RFC 8760), checked in
// one place before any handler: REGISTER, PUBLISH and SUBSCRIBE change where a user's messages go
// or reveal them, so they must prove the password of the AOR they are about (To); a MESSAGE whose
// From is a served user with credentials must prove that user's. Requests from trusted proxies
// pass as they are. Answers:
//   no (usable) Authorization, or a nonce we did not issue, or a nonce-count used before → 401
//     with one WWW-Authenticate per offered algorithm (SHA-256 first by default), qop="auth"
//   the right password on an expired nonce → 401 with stale=true
//   the wrong password, user or realm → 403 (sipp and most UAs stop there instead of retrying)
//   REGISTER/PUBLISH/SUBSCRIBE for a user without credentials → 403
//   the API cannot be asked → 503 with Retry-After
//   too many wrong passwords for the AOR, or from the source address, within the window
//     (HOLDOVER_SIP_AUTH_*, edge/auth-throttle.ts) → 503 with Retry-After, password not checked
// The edge keeps no credentials: it reads a user's HA1s from the API (signed) and caches the
// answer, absent ones too, for a short while, so a REGISTER storm costs one read per user.
import { createHmac } from 'node:crypto';
import type * as z from 'zod';
import { CredentialsCheckSchema } from '../shared/contract/views.ts';
import { EDGE_METRICS } from '../shared/metric-names.ts';
import { aorOf } from '../shared/sip/uri.ts';
import {
  challengeHeader,
  type DigestAlgorithm,
  mintNonce,
  NonceCounts,
  parseCredentials,
  parseDigestParams,
  verifyDigest,
} from '../shared/sip-digest.ts';
import { type ApiClient, ApiUnavailableError } from './api-client.ts';
import type { SipAuthThrottle } from './auth-throttle.ts';
import { DELIVERY_MARK } from './delivery.ts';
import { logger, metrics } from './log.ts';
import { getHeader, getHeaders, type ReceivedRequest, type SipHeader } from './sip/message.ts';
import { refuse, servedAor } from './sip-replies.ts';
import type { SipReply, SipSource } from './sip-server.ts';
import type { TrustedProxies } from './trusted-proxies.ts';

/** `GET /v1/credentials/{aor}`: a user's HA1 per algorithm. */
type StoredCredentials = z.infer<typeof CredentialsCheckSchema>;

/** The challenged methods whose subject is the To AOR. */
const SUBJECT_IS_TO = new Set(['REGISTER', 'PUBLISH', 'SUBSCRIBE']);

export interface DigestAuthOptions {
  api: Pick<ApiClient, 'get'>;
  domains: readonly string[];
  trustedProxies: TrustedProxies;
  /** Signs nonces; the same on every edge, so any edge checks another's nonce. */
  nonceKey: Buffer;
  /** Offered in this order (HOLDOVER_DIGEST_ALGORITHMS, default SHA-256, MD5). */
  algorithms: readonly DigestAlgorithm[];
  /** How long a credentials answer (or its absence) is reused. */
  cacheMs: number;
  retryAfterSeconds: number;
  /** Counts wrong passwords per AOR and per source and refuses attempts past the limits. */
  throttle: SipAuthThrottle;
  now?: () => number;
}

/** Derives the nonce key from the edge⇄API secret, which every edge instance already has. */
export function nonceKeyOf(secret: string): Buffer {
  return createHmac('sha256', secret).update('holdover sip digest nonce key').digest();
}

export class DigestAuth {
  private readonly cache = new Map<string, { credentials: StoredCredentials | null; until: number }>();
  private readonly inFlight = new Map<string, Promise<StoredCredentials | null>>();
  private readonly counts = new NonceCounts();
  private readonly now: () => number;
  private static readonly MAX_CACHED = 10_000;

  constructor(private readonly options: DigestAuthOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Undefined: the request may go on to its handler; else the answer to send instead. */
  async check(request: ReceivedRequest, source: SipSource): Promise<SipReply | undefined> {
    const subject = this.subjectOf(request);
    if (subject === undefined) return undefined;
    if (this.options.trustedProxies.has(source.address)) return undefined;

    let credentials: StoredCredentials | null;
    try {
      credentials = await this.credentialsOf(subject.aor);
    } catch (error) {
      logger.error('credentials could not be read: request answered 503', {
        method: request.method,
        aor: subject.aor,
        error: error instanceof Error ? error.message : String(error),
      });
      return {
        status: 503,
        reason: 'Service Unavailable',
        headers: [{ name: 'retry-after', value: String(this.options.retryAfterSeconds) }],
      };
    }
    if (credentials === null) {
      if (!subject.required) return undefined;
      logger.warn('sip request refused: no credentials', {
        method: request.method,
        aor: subject.aor,
        source: peer(source),
      });
      return refuse(
        403,
        'Forbidden',
        `${subject.aor} has no SIP credentials: an operator sets them with "npx holdover users set"`,
      );
    }
    return this.verify(request, source, subject.aor, credentials);
  }

  /**
   * Whose password a request must prove, if any: the To AOR of REGISTER/PUBLISH/SUBSCRIBE in a
   * served domain (others get their 404 from the handler), the From AOR of a MESSAGE from a served
   * domain. A MESSAGE Holdover is delivering that came back is answered 480 by the handler.
   */
  private subjectOf(request: ReceivedRequest): { aor: string; required: boolean } | undefined {
    if (SUBJECT_IS_TO.has(request.method)) {
      const target = servedAor(request, this.options.domains);
      return 'aor' in target ? { aor: target.aor, required: true } : undefined;
    }
    if (request.method !== 'MESSAGE' || getHeader(request, DELIVERY_MARK) !== undefined) return undefined;
    let aor: string;
    try {
      aor = aorOf(request.from.uri);
    } catch {
      return undefined; // the handler judges a malformed From
    }
    const domain = aor.slice(aor.indexOf('@') + 1);
    return this.options.domains.includes(domain) ? { aor, required: false } : undefined;
  }

  private verify(
    request: ReceivedRequest,
    source: SipSource,
    aor: string,
    credentials: StoredCredentials,
  ): SipReply | undefined {
    const realm = credentials.realm;
    const username = aor.slice('sip:'.length, aor.indexOf('@'));
    // Credentials for other realms (an upstream proxy's) are not ours to judge (RFC 3261 22.3).
    const ours = getHeaders(request, 'authorization').filter(
      (value) => parseDigestParams(value)?.get('realm') === realm,
    );
    const fields = { method: request.method, aor, source: peer(source) };
    const nowMs = this.now();
    // Checked after the (awaited) credentials read and in the same synchronous step as the
    // verdict and its count, so concurrent guesses cannot all slip in before the first is counted.
    const throttled = this.options.throttle.refused(aor, source.address, nowMs);
    if (throttled !== undefined) {
      metrics.countBy(EDGE_METRICS.sipAuthThrottled, throttled.reason);
      logger.debug('sip request refused: too many wrong passwords', { ...fields, ...throttled });
      return throttledReply(throttled.retryAfterSeconds);
    }
    const answer = ours[0];
    if (answer === undefined) return this.challenge(realm, false);
    const parsed = parseCredentials(answer);
    if (!parsed.ok) {
      logger.warn('sip request refused: malformed Authorization', { ...fields, problem: parsed.problem });
      return refuse(400, 'Bad Request', parsed.problem);
    }
    if (parsed.credentials.uri.trim().toLowerCase() !== request.uri.trim().toLowerCase()) {
      logger.warn('sip request refused: digest uri differs from the Request-URI', fields);
      return refuse(400, 'Bad Request', 'Authorization uri must be the Request-URI');
    }
    const verdict = verifyDigest({
      credentials: parsed.credentials,
      method: request.method,
      realm,
      username,
      ha1: credentials.ha1,
      nonceKey: this.options.nonceKey,
      nowMs,
    });
    switch (verdict.kind) {
      case 'bad-nonce':
        logger.info('digest nonce not ours: challenged again', fields);
        return this.challenge(realm, false);
      case 'stale':
        return this.challenge(realm, true);
      case 'wrong': {
        logger.warn('sip request refused: wrong credentials', { ...fields, problem: verdict.problem });
        const nowThrottled = this.options.throttle.failed(aor, source.address, nowMs);
        for (const reason of nowThrottled) {
          logger.warn('sip digest attempts throttled: too many wrong passwords', { ...fields, reason });
        }
        return refuse(403, 'Forbidden', 'wrong username or password');
      }
      case 'ok':
        if (!this.counts.use(parsed.credentials.nonce, parsed.credentials.nc, nowMs)) {
          logger.warn('digest nonce-count reused (a replay?): challenged again', fields);
          return this.challenge(realm, false);
        }
        this.options.throttle.succeeded(aor);
        return undefined;
    }
  }

  private challenge(realm: string, stale: boolean): SipReply {
    const nonce = mintNonce(this.options.nonceKey, realm, this.now());
    const headers: SipHeader[] = this.options.algorithms.map((algorithm) => ({
      name: 'www-authenticate',
      value: challengeHeader(realm, nonce, algorithm, stale),
    }));
    return { status: 401, reason: 'Unauthorized', headers };
  }

  private async credentialsOf(aor: string): Promise<StoredCredentials | null> {
    const nowMs = this.now();
    const cached = this.cache.get(aor);
    if (cached && cached.until > nowMs) return cached.credentials;
    const pending = this.inFlight.get(aor);
    if (pending) return pending;
    const lookup = this.fetchCredentials(aor).finally(() => this.inFlight.delete(aor));
    this.inFlight.set(aor, lookup);
    const credentials = await lookup;
    this.cache.delete(aor);
    this.cache.set(aor, { credentials, until: this.now() + this.options.cacheMs });
    while (this.cache.size > DigestAuth.MAX_CACHED) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    return credentials;
  }

  private async fetchCredentials(aor: string): Promise<StoredCredentials | null> {
    const answer = await this.options.api.get(`/v1/credentials/${encodeURIComponent(aor)}`);
    if (answer.status === 404) return null;
    if (answer.status === 401) {
      throw new ApiUnavailableError(
        'the API refused our signature: HOLDOVER_SECRET differs between edge and API',
      );
    }
    if (answer.status !== 200) throw new ApiUnavailableError(`the API answered ${answer.status}`);
    const parsed = CredentialsCheckSchema.safeParse(answer.body);
    if (!parsed.success) throw new ApiUnavailableError('the API answered credentials of an unexpected shape');
    return parsed.data;
  }
}

/**
 * The answer while throttled: 503 with Retry-After, not 403. RFC 3261 §20.33 (and the table of
 * §20) defines Retry-After for 404, 413, 480, 486, 500, 503, 600 and 603, not for 403, and UAs
 * take a 403 to REGISTER as final: they stop registering until someone intervenes, and would
 * ignore the Retry-After. A 503 with Retry-After is what UAs back off from and retry by
 * themselves after the given time (RFC 3261 §21.5.4), so a user whose phone tripped the limit
 * is back once the window has passed. A proxy in front turns a 503 into a 500 (§16.7), which
 * keeps Retry-After's meaning. SIP has no 429. The reason phrase names the cause for people
 * reading traces, without saying whether the last password was right.
 */
function throttledReply(retryAfterSeconds: number): SipReply {
  return {
    status: 503,
    reason: 'Too Many Failed Attempts',
    headers: [{ name: 'retry-after', value: String(retryAfterSeconds) }],
  };
}

function peer(source: SipSource): string {
  return `${source.transport}:${source.address}:${source.port}`;
}
