// What the edge does with each SIP request (docs/design.md "SIP answers"): MESSAGE → signed capture
// call, answered 202 only after the API stored it; REGISTER → registrar; PUBLISH (presence) →
// publications; SUBSCRIBE (message-summary) → message-waiting; OPTIONS → 200; else → 405.
import { type ApiAnswer, type ApiClient, ApiUnavailableError } from './api-client.ts';
import { DELIVERY_MARK } from './delivery.ts';
import { logger, metrics } from './log.ts';
import { getHeader, type SipRequest } from './sip/message.ts';
import { aorOf, parseCSeq, parseNameAddr } from './sip/uri.ts';
import { ALLOW_EVENTS, refuse, warning } from './sip-replies.ts';
import type { SipReply, SipSource } from './sip-server.ts';

export type Reply = SipReply;

export interface EdgeOptions {
  api: ApiClient;
  maxBodyBytes: number;
  /** Seconds a sender should wait before retrying when the API is unavailable. */
  retryAfterSeconds: number;
  registrar: { register(request: SipRequest): Reply };
  publications: { publish(request: SipRequest): Reply };
  messageWaiting: { subscribe(request: SipRequest, source: SipSource): Reply };
  /**
   * Digest authentication (edge/digest-auth.ts), asked before any handler: undefined lets the
   * request through, else its answer (401 challenge, 403, 503) is sent instead.
   */
  auth?: { check(request: SipRequest, source: SipSource): Promise<Reply | undefined> };
  /** Told the recipient AOR of each MESSAGE the API stored (MWI re-reads the count). */
  onCaptured?: (recipient: string) => void;
  /**
   * Most capture calls in flight at once. Past it a MESSAGE is answered 503 with Retry-After at
   * once: under overload senders are told to come back, rather than every MESSAGE waiting in a
   * queue until the senders' own timers give up (RFC 3261 21.5.4).
   */
  maxPendingCaptures?: number;
}

let pendingCaptures = 0;

/**
 * The capture function must have answered this long before the edge stops waiting: it refuses to
 * store past the deadline and cuts its store write off at it, so a MESSAGE answered 503 is not
 * stored (and if a write still lands, the resent MESSAGE is a duplicate, answered 202).
 */
const CAPTURE_DEADLINE_MARGIN_MS = 2000;

export const ALLOWED_METHODS = ['MESSAGE', 'OPTIONS', 'REGISTER', 'PUBLISH', 'SUBSCRIBE'];
const ACCEPTED_TYPES = 'text/plain, text/html, message/cpim, application/im-iscomposing+xml';
const IS_COMPOSING = 'application/im-iscomposing+xml';

export function createRequestHandler(
  options: EdgeOptions,
): (request: SipRequest, source: SipSource) => Promise<Reply> {
  return async (request, source) => {
    const arrived = arrivalStamp();
    if (options.auth) {
      const refusal = await options.auth.check(request, source);
      if (refusal !== undefined) return refusal;
    }
    switch (request.method) {
      case 'MESSAGE':
        return onMessage(request, options, source, arrived);
      case 'REGISTER':
        return options.registrar.register(request);
      case 'PUBLISH':
        return options.publications.publish(request);
      case 'SUBSCRIBE':
        return options.messageWaiting.subscribe(request, source);
      case 'OPTIONS':
        return {
          status: 200,
          reason: 'OK',
          headers: [
            { name: 'allow', value: ALLOWED_METHODS.join(', ') },
            { name: 'accept', value: ACCEPTED_TYPES },
            ALLOW_EVENTS,
          ],
        };
      default:
        return {
          status: 405,
          reason: 'Method Not Allowed',
          headers: [{ name: 'allow', value: ALLOWED_METHODS.join(', ') }],
        };
    }
  };
}

/**
 * `arrived` is stamped when the datagram or TCP frame was handed to us, before any await, so
 * "oldest first" means the order MESSAGEs reached the edge even though they are stored
 * concurrently.
 */
async function onMessage(
  request: SipRequest,
  options: EdgeOptions,
  source: SipSource,
  arrived: string,
): Promise<Reply> {
  const callId = getHeader(request, 'call-id') ?? '';
  const cseq = parseCSeq(getHeader(request, 'cseq') ?? '');
  const delivering = getHeader(request, DELIVERY_MARK);
  if (delivering !== undefined) {
    // A MESSAGE Holdover is delivering came back (a proxy's failure route without the
    // X-Holdover-Delivery check): capturing it would answer 202 and end the delivery as if
    // the recipient had it. It is still held; 480 makes the delivery stop and retry later.
    logger.warn('delivered message routed back to the edge: answered 480', { id: delivering, callId });
    return refuse(480, 'Temporarily Unavailable', 'a Holdover delivery cannot be captured again');
  }
  const contentType = getHeader(request, 'content-type');
  if (contentType === undefined) {
    return refuse(
      400,
      'Bad Request',
      request.body.length > 0 ? 'Content-Type is required with a body' : 'MESSAGE has no body',
    );
  }
  if (contentType.toLowerCase().startsWith(IS_COMPOSING)) return { status: 200, reason: 'OK' };
  if (request.body.length === 0) return refuse(400, 'Bad Request', 'MESSAGE has no body');
  if (request.body.length > options.maxBodyBytes) {
    return refuse(413, 'Request Entity Too Large', `body is larger than ${options.maxBodyBytes} bytes`);
  }
  const from = parseNameAddr(getHeader(request, 'from') ?? '');
  const to = parseNameAddr(getHeader(request, 'to') ?? '');
  const expires = getHeader(request, 'expires');
  const subject = getHeader(request, 'subject');
  const payload = {
    callId,
    cseq: cseq.seq,
    from: from.uri,
    ...(from.displayName ? { fromName: from.displayName } : {}),
    to: to.uri,
    contentType,
    body: request.body.toString('base64'),
    ...(subject ? { subject } : {}),
    ...(expires !== undefined && /^\d{1,10}$/.test(expires.trim())
      ? { expires: Number(expires.trim()) }
      : {}),
    receivedAt: arrived,
    replyTo: replyTargetOf(request, source),
    ...(isAutoSubmitted(request) ? { autoSubmitted: true } : {}),
  };

  if (pendingCaptures >= (options.maxPendingCaptures ?? Number.POSITIVE_INFINITY)) {
    logger.warn('overloaded: MESSAGE refused with 503', { callId, pendingCaptures });
    metrics.count('shed');
    return unavailable(options);
  }
  let answer: ApiAnswer;
  pendingCaptures++;
  metrics.capturesInFlight(pendingCaptures);
  try {
    const waitMs = Number.isFinite(options.api.timeoutMs) ? options.api.timeoutMs : 10_000;
    const deadline = Date.now() + Math.max(1000, waitMs - CAPTURE_DEADLINE_MARGIN_MS);
    answer = await options.api.post('/v1/messages', { ...payload, deadline });
  } catch (error) {
    if (!(error instanceof ApiUnavailableError)) throw error;
    logger.error('capture API unavailable', { callId, error: error.message });
    return unavailable(options);
  } finally {
    pendingCaptures--;
    metrics.capturesInFlight(pendingCaptures);
  }
  const reply = mapCaptureAnswer(answer, callId, options);
  if (reply.status === 202 && options.onCaptured) {
    try {
      options.onCaptured(aorOf(to.uri));
    } catch {
      // a recipient the API accepted but we cannot normalize: nothing to notify
    }
  }
  return reply;
}

function mapCaptureAnswer(answer: ApiAnswer, callId: string, options: EdgeOptions): Reply {
  const detail = errorMessage(answer.body);
  switch (answer.status) {
    case 202:
      return { status: 202, reason: 'Accepted' };
    case 200:
      return { status: 200, reason: 'OK' };
    case 400:
      return refuse(400, 'Bad Request', detail);
    case 404:
      return refuse(404, 'Not Found', detail);
    case 413:
      return refuse(413, 'Request Entity Too Large', detail);
    case 415:
      return {
        ...refuse(415, 'Unsupported Media Type', detail),
        headers: [warning(detail), { name: 'accept', value: ACCEPTED_TYPES }],
      };
    case 429:
      return refuse(486, 'Busy Here (mailbox full)', detail);
    case 401:
      // The edge and the API disagree on the secret (or the clocks): an operator must fix it;
      // senders retry later.
      logger.error(
        'capture API refused our signature: check HOLDOVER_SECRET and the clocks of edge and API',
        {
          callId,
          detail,
        },
      );
      return unavailable(options);
    default:
      logger.error('capture API failed', { callId, status: answer.status, detail });
      return unavailable(options);
  }
}

function unavailable(options: EdgeOptions): Reply {
  return {
    status: 503,
    reason: 'Service Unavailable',
    headers: [{ name: 'retry-after', value: String(options.retryAfterSeconds) }],
  };
}

function errorMessage(body: unknown): string {
  if (typeof body === 'object' && body !== null && 'error' in body) {
    const error = body.error;
    if (
      typeof error === 'object' &&
      error !== null &&
      'message' in error &&
      typeof error.message === 'string'
    ) {
      return error.message;
    }
  }
  return 'request refused';
}

/** Where a bounce or IMDN for this sender can go: its Contact, else where the MESSAGE came from. */
function replyTargetOf(request: SipRequest, source: SipSource): string {
  const contact = getHeader(request, 'contact');
  if (contact !== undefined) {
    try {
      return parseNameAddr(contact).uri;
    } catch {
      // fall through to the source address
    }
  }
  const host = source.address.includes(':') ? `[${source.address}]` : source.address;
  return `sip:${host}:${source.port};transport=${source.transport}`;
}

/** RFC 3834's Auto-Submitted, reused: an automatic MESSAGE must never get an automatic answer. */
function isAutoSubmitted(request: SipRequest): boolean {
  const value = getHeader(request, 'auto-submitted');
  return value !== undefined && value.trim().toLowerCase() !== 'no';
}

let lastArrivalMicros = 0;

/**
 * A strictly increasing arrival time with microseconds (`2026-11-21T10:00:00.123456Z`): two
 * MESSAGEs that arrive in the same TCP read still sort in the order they came.
 */
export function arrivalStamp(): string {
  const micros = Math.max(
    Math.floor((performance.timeOrigin + performance.now()) * 1000),
    lastArrivalMicros + 1,
  );
  lastArrivalMicros = micros;
  const iso = new Date(Math.floor(micros / 1000)).toISOString();
  return `${iso.slice(0, -1)}${String(micros % 1000).padStart(3, '0')}Z`;
}
