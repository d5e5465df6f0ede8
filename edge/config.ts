// Edge configuration, read and checked once at start; a bad value stops the edge with its name.

import { envDurationMs, envInt, envOr, requireEnv } from '../shared/env.ts';
import { maxBodyBytes, servedDomains } from '../shared/settings.ts';
import { targetOfUri } from '../shared/sip/uri.ts';
import { type DigestAlgorithm, isDigestAlgorithm } from '../shared/sip-digest.ts';
import { SIP_AUTH_THROTTLE_DEFAULTS, type SipAuthThrottleSettings } from './auth-throttle.ts';
import type { OutboundProxy } from './delivery.ts';
import { parseTrustedProxies, type TrustedProxies } from './trusted-proxies.ts';

export interface EdgeConfig {
  sipHost: string;
  sipPort: number;
  /** The host put in our Via and Contact headers (SIP_ADVERTISED_HOST, default SIP_HOST). */
  sipAdvertisedHost: string;
  httpHost: string;
  httpPort: number;
  apiUrl: string;
  secret: string;
  maxBodyBytes: number;
  retryAfterSeconds: number;
  /** MESSAGEs waiting for their capture before MESSAGEs get 503 (overload). */
  maxPendingCaptures: number;
  /** EDGE_CAPTURE_SHED_AFTER (app.ts `shedAfterMs`). */
  shedAfterMs?: number;
  /** EDGE_CAPTURE_BATCH (app.ts `maxCaptureBatch`). */
  maxCaptureBatch?: number;
  /** EDGE_CAPTURE_CALLS (app.ts `maxCaptureCalls`). */
  maxCaptureCalls?: number;
  /** Where every request the edge sends goes (OUTBOUND_PROXY); unset: to the UA's contact. */
  outboundProxy?: OutboundProxy;
  /** Timer F of outgoing requests (DELIVERY_TIMEOUT). */
  deliveryTimeoutMs: number;
  /** How often subscribed message counts are re-read (MWI_POLL_INTERVAL). */
  mwiPollIntervalMs: number;
  /** Shortest registration/publication/subscription granted (SIP_MIN_EXPIRES); shorter → 423. */
  minExpiresSeconds: number;
  /** SIP domains served (HOLDOVER_DOMAINS): REGISTER/PUBLISH/SUBSCRIBE for others get 404. */
  domains: string[];
  /** HOLDOVER_TRUSTED_PROXIES: sources whose requests pass without a digest challenge. */
  trustedProxies: TrustedProxies;
  /** HOLDOVER_DIGEST_ALGORITHMS: offered in this order (default SHA-256,MD5). */
  digestAlgorithms: DigestAlgorithm[];
  /** HOLDOVER_CREDENTIALS_CACHE: how long a user's credentials (or their absence) are reused. */
  credentialsCacheMs: number;
  /** HOLDOVER_SIP_AUTH_*: wrong digest passwords tolerated per AOR / per source within a window. */
  sipAuthThrottle?: SipAuthThrottleSettings;
}

export function edgeConfigFromEnv(): EdgeConfig {
  const apiUrl = requireEnv('HOLDOVER_API_URL');
  try {
    new URL(apiUrl);
  } catch {
    throw new Error(`HOLDOVER_API_URL must be a URL such as http://127.0.0.1:3000, got "${apiUrl}"`);
  }
  const domains = servedDomains();
  const sipHost = envOr('SIP_HOST', '127.0.0.1');
  const outboundProxy = outboundProxyFromEnv();
  return {
    sipHost,
    sipPort: envInt('SIP_PORT', 5060),
    sipAdvertisedHost: envOr('SIP_ADVERTISED_HOST', sipHost),
    httpHost: envOr('EDGE_HTTP_HOST', envOr('SIP_HOST', '127.0.0.1')),
    httpPort: envInt('EDGE_HTTP_PORT', 3001),
    apiUrl,
    secret: requireEnv('HOLDOVER_SECRET'),
    maxBodyBytes: maxBodyBytes(),
    retryAfterSeconds: envInt('HOLDOVER_RETRY_AFTER', 30),
    maxPendingCaptures: envInt('EDGE_MAX_PENDING_CAPTURES', 64),
    shedAfterMs: envDurationMs('EDGE_CAPTURE_SHED_AFTER', '1s'),
    maxCaptureBatch: envInt('EDGE_CAPTURE_BATCH', 25),
    maxCaptureCalls: envInt('EDGE_CAPTURE_CALLS', 8),
    ...(outboundProxy ? { outboundProxy } : {}),
    deliveryTimeoutMs: envDurationMs('DELIVERY_TIMEOUT', '32s'),
    mwiPollIntervalMs: envDurationMs('MWI_POLL_INTERVAL', '30s'),
    minExpiresSeconds: minExpiresFromEnv(),
    domains,
    trustedProxies: parseTrustedProxies(envOr('HOLDOVER_TRUSTED_PROXIES', '')),
    digestAlgorithms: digestAlgorithmsFromEnv(),
    credentialsCacheMs: envDurationMs('HOLDOVER_CREDENTIALS_CACHE', '30s'),
    sipAuthThrottle: sipAuthThrottleFromEnv(),
  };
}

function outboundProxyFromEnv(): OutboundProxy | undefined {
  const uri = envOr('OUTBOUND_PROXY', '');
  if (uri === '') return undefined;
  try {
    return { uri, target: targetOfUri(uri) };
  } catch (error) {
    throw new Error(
      `OUTBOUND_PROXY must be a SIP URI such as sip:127.0.0.1:5060;transport=tcp, got "${uri}": ${
        error instanceof Error ? error.message : String(error)
      }`,
    );
  }
}

function minExpiresFromEnv(): number {
  const seconds = envInt('SIP_MIN_EXPIRES', 60);
  if (seconds > 3600) throw new Error(`SIP_MIN_EXPIRES must be at most 3600 seconds, got "${seconds}"`);
  return seconds;
}

/**
 * The digest algorithms offered, most preferred first (RFC 8760 §2.4). MD5 first is for UAs
 * that answer only the first challenge and know no SHA-256 (sipp 3.6, older phones).
 */
export function digestAlgorithmsFromEnv(): DigestAlgorithm[] {
  const text = envOr('HOLDOVER_DIGEST_ALGORITHMS', 'SHA-256,MD5');
  const algorithms = text.split(',').map((entry) => entry.trim().toUpperCase());
  const valid = algorithms.filter(isDigestAlgorithm);
  if (valid.length === 0 || valid.length !== algorithms.length || new Set(valid).size !== valid.length) {
    throw new Error(
      `HOLDOVER_DIGEST_ALGORITHMS must list SHA-256 and/or MD5, e.g. "SHA-256,MD5", got "${text}"`,
    );
  }
  return valid;
}

/**
 * HOLDOVER_SIP_AUTH_FAILURES (per AOR), HOLDOVER_SIP_AUTH_SOURCE_FAILURES (per source address)
 * and HOLDOVER_SIP_AUTH_WINDOW: wrong digest passwords tolerated within the window before
 * further attempts are refused (edge/auth-throttle.ts).
 */
export function sipAuthThrottleFromEnv(): SipAuthThrottleSettings {
  const defaults = SIP_AUTH_THROTTLE_DEFAULTS;
  return {
    aorLimit: envInt('HOLDOVER_SIP_AUTH_FAILURES', defaults.aorLimit),
    sourceLimit: envInt('HOLDOVER_SIP_AUTH_SOURCE_FAILURES', defaults.sourceLimit),
    windowMs: envDurationMs('HOLDOVER_SIP_AUTH_WINDOW', `${defaults.windowMs / 1000}s`),
    maxKeys: defaults.maxKeys,
  };
}
