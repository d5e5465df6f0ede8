// Small pieces shared by the request handlers: refusals with a Warning, the served-domain check,
// and the header values several handlers read (Event, Expires).

import { aorOf } from '../shared/sip/uri.ts';
import { getHeader, type ReceivedRequest, type SipHeader, type SipRequest } from './sip/message.ts';
import type { SipReply } from './sip-server.ts';

export function refuse(status: number, reason: string, detail: string, headers: SipHeader[] = []): SipReply {
  return { status, reason, headers: [warning(detail), ...headers] };
}

/** RFC 3261 20.43: a Warning carries the precise reason; quotes and line breaks are stripped. */
export function warning(text: string): SipHeader {
  const clean = text.replace(/[\r\n"\\]/g, ' ').slice(0, 200);
  return { name: 'warning', value: `399 holdover "${clean}"` };
}

/** The events this edge is a notifier or state compositor for (RFC 6665 Allow-Events). */
export const ALLOW_EVENTS: SipHeader = { name: 'allow-events', value: 'presence, message-summary' };

/** The package of an Event header, lower-cased without parameters: `presence`, `message-summary`. */
export function eventPackage(request: SipRequest): string | undefined {
  const value = getHeader(request, 'event');
  if (value === undefined) return undefined;
  return value.split(';')[0]?.trim().toLowerCase();
}

export type AorResult = { aor: string } | { refusal: SipReply };

/**
 * The address-of-record a REGISTER, PUBLISH or SUBSCRIBE is about: its To URI, normalized
 * (behind a proxy the Request-URI may already have been rewritten, the To not); a domain not
 * in HOLDOVER_DOMAINS is refused with 404, as a MESSAGE for it would be.
 */
export function servedAor(request: ReceivedRequest, domains: readonly string[]): AorResult {
  let aor: string;
  try {
    aor = aorOf(request.to.uri);
  } catch {
    return { refusal: refuse(400, 'Bad Request', 'To must be a SIP address of record (sip:user@host)') };
  }
  const domain = aor.slice(aor.indexOf('@') + 1);
  if (!domains.includes(domain)) {
    return { refusal: refuse(404, 'Not Found', `domain ${domain} is not served here`) };
  }
  return { aor };
}

export const MIN_EXPIRES_SECONDS = 60;
export const MAX_EXPIRES_SECONDS = 3600;

export type ExpiresDecision = { seconds: number } | { refusal: SipReply };

/**
 * The lifetime granted for a registration, publication or subscription: the requested value
 * (a Contact `expires` parameter first, then the Expires header), 3600 when none is given,
 * capped at 3600; 0 ends it; 1–59 (below `minSeconds`) is refused with 423 and Min-Expires (RFC 3261 10.3 step 7,
 * RFC 3903 §6, RFC 6665 §4.2.1.1); anything but digits is a 400.
 */
export function grantedExpiry(
  requested: string | null | undefined,
  header: string | undefined,
  minSeconds: number = MIN_EXPIRES_SECONDS,
): ExpiresDecision {
  const text = requested ?? header;
  if (text === undefined || text === null) return { seconds: MAX_EXPIRES_SECONDS };
  const trimmed = text.trim();
  if (!/^\d{1,10}$/.test(trimmed))
    return { refusal: refuse(400, 'Bad Request', `Malformed expires value "${text}"`) };
  const seconds = Number(trimmed);
  if (seconds === 0) return { seconds: 0 };
  if (seconds < minSeconds) {
    return {
      refusal: {
        status: 423,
        reason: 'Interval Too Brief',
        headers: [{ name: 'min-expires', value: String(minSeconds) }],
      },
    };
  }
  return { seconds: Math.min(seconds, MAX_EXPIRES_SECONDS) };
}
