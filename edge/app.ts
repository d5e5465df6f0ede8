// What the edge does with each SIP request (docs/design.md "SIP answers"): MESSAGE → signed capture
// call, answered 202 only after the API stored it; REGISTER → registrar; PUBLISH (presence) →
// publications; SUBSCRIBE (message-summary) → message-waiting; OPTIONS → 200; else → 405.

import {
  CaptureBatchAnswerSchema,
  type CaptureBatchRequest,
  type CaptureRequest,
} from '../shared/contract/capture.ts';
import { errorMessageOf } from '../shared/contract/error.ts';
import { aorOf } from '../shared/sip/uri.ts';
import { type ApiAnswer, type ApiClient, ApiUnavailableError } from './api-client.ts';
import { DELIVERY_MARK } from './delivery.ts';
import { logger, metrics } from './log.ts';
import { getHeader, type ReceivedRequest } from './sip/message.ts';
import { ALLOW_EVENTS, refuse, warning } from './sip-replies.ts';
import type { SipReply, SipSource } from './sip-server.ts';

export type Reply = SipReply;

export interface EdgeOptions {
  api: ApiClient;
  maxBodyBytes: number;
  /** Seconds a sender should wait before retrying when the API is unavailable. */
  retryAfterSeconds: number;
  registrar: { register(request: ReceivedRequest): Reply };
  publications: { publish(request: ReceivedRequest): Reply };
  messageWaiting: { subscribe(request: ReceivedRequest, source: SipSource): Reply };
  /**
   * Digest authentication (edge/digest-auth.ts), asked before any handler: undefined lets the
   * request through, else its answer (401 challenge, 403, 503) is sent instead.
   */
  auth?: { check(request: ReceivedRequest, source: SipSource): Promise<Reply | undefined> };
  /** Told the recipient AOR of each MESSAGE the API stored (MWI re-reads the count). */
  onCaptured?: (recipient: string) => void;
  /**
   * Most capture calls in flight at once. Past it a MESSAGE is answered 503 with Retry-After at
   * once: under overload senders are told to come back, rather than every MESSAGE waiting in a
   * queue until the senders' own timers give up (RFC 3261 21.5.4).
   */
  maxPendingCaptures?: number;
  /**
   * Once a capture call has waited this long (and a few are in flight), the API is behind: new
   * MESSAGEs are answered 503 at once, so a sender waits milliseconds for its answer, never
   * seconds in a queue. Default 1000 ms.
   */
  shedAfterMs?: number;
  /** Most captures handed to the API in one batch call (default 25; 1: never batched). */
  maxCaptureBatch?: number;
  /**
   * Most capture calls (single or batch) in flight at once (default 8). MESSAGEs arriving while
   * that many are out wait for the first to end and go together in the next batch call: under
   * load the calls grow instead of multiplying, so the store is not handed more requests at
   * once (one signed call's nonce per message, say) than it can take. The wait counts towards
   * `shedAfterMs`, so shedding still answers within milliseconds.
   */
  maxCaptureCalls?: number;
}

/** Below this many captures in flight, one slow call alone does not start shedding. */
const SHED_FLOOR = 4;

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
): (request: ReceivedRequest, source: SipSource) => Promise<Reply> {
  const captures = new CaptureGate(options);
  return async (request, source) => {
    const arrived = arrivalStamp();
    if (options.auth) {
      const refusal = await options.auth.check(request, source);
      if (refusal !== undefined) return refusal;
    }
    switch (request.method) {
      case 'MESSAGE':
        return onMessage(request, options, captures, source, arrived);
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
  request: ReceivedRequest,
  options: EdgeOptions,
  captures: CaptureGate,
  source: SipSource,
  arrived: string,
): Promise<Reply> {
  const { callId, cseq, from, to } = request;
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
  const expires = getHeader(request, 'expires');
  const subject = getHeader(request, 'subject');
  const payload: Omit<CaptureRequest, 'deadline'> = {
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

  const overload = captures.overloaded();
  if (overload !== undefined) {
    logger.warn('overloaded: MESSAGE refused with 503', { callId, ...overload });
    metrics.count('shed');
    return unavailable(options);
  }
  let answer: ApiAnswer;
  try {
    const waitMs = Number.isFinite(options.api.timeoutMs) ? options.api.timeoutMs : 10_000;
    const deadline = Date.now() + Math.max(1000, waitMs - CAPTURE_DEADLINE_MARGIN_MS);
    answer = await captures.capture({ ...payload, deadline });
  } catch (error) {
    if (!(error instanceof ApiUnavailableError)) throw error;
    logger.error('capture API unavailable', { callId, error: error.message });
    return unavailable(options);
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
  const detail = errorMessageOf(answer.body) ?? 'request refused';
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

/** Where a bounce or IMDN for this sender can go: its Contact, else where the MESSAGE came from. */
function replyTargetOf(request: ReceivedRequest, source: SipSource): string {
  const [contact] = request.contacts;
  if (contact !== undefined) return contact.uri;
  const host = source.address.includes(':') ? `[${source.address}]` : source.address;
  return `sip:${host}:${source.port};transport=${source.transport}`;
}

/** RFC 3834's Auto-Submitted, reused: an automatic MESSAGE must never get an automatic answer. */
function isAutoSubmitted(request: ReceivedRequest): boolean {
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

/**
 * The captures in flight: how many and since when (the shedding), and the batching: MESSAGEs
 * that arrive in the same turn of the event loop (a burst of datagrams, several in one TCP read)
 * go to the API in one signed call, `POST /v1/messages/batch`, each with its own answer.
 */
class CaptureGate {
  private readonly started = new Map<number, number>();
  private nextId = 0;
  private waiting: Array<{
    payload: CaptureRequest;
    resolve: (answer: ApiAnswer) => void;
    reject: (error: unknown) => void;
  }> = [];
  private scheduled = false;
  /** Capture calls (single or batch) the API has not answered yet. */
  private calls = 0;

  constructor(private readonly options: EdgeOptions) {}

  /** Why a new capture must be refused now, if it must. */
  overloaded(): { pendingCaptures: number; oldestWaitMs?: number } | undefined {
    const pendingCaptures = this.started.size;
    if (pendingCaptures >= (this.options.maxPendingCaptures ?? Number.POSITIVE_INFINITY))
      return { pendingCaptures };
    if (pendingCaptures < SHED_FLOOR) return undefined;
    const oldest = this.started.values().next().value;
    const oldestWaitMs = oldest === undefined ? 0 : Date.now() - oldest;
    return oldestWaitMs > (this.options.shedAfterMs ?? 1000) ? { pendingCaptures, oldestWaitMs } : undefined;
  }

  async capture(payload: CaptureRequest): Promise<ApiAnswer> {
    const id = this.nextId++;
    this.started.set(id, Date.now());
    metrics.capturesInFlight(this.started.size);
    try {
      return await new Promise<ApiAnswer>((resolve, reject) => {
        const entry = { payload, resolve, reject };
        // Nothing in flight: no wait, the call goes out now. Else it joins those arriving in
        // this turn, sent together at its end, or later with those arriving until a call ends
        // when maxCaptureCalls are out.
        if (this.calls === 0) {
          void this.send([entry]);
          return;
        }
        this.waiting.push(entry);
        if (!this.scheduled) {
          this.scheduled = true;
          setImmediate(() => this.flush());
        }
      });
    } finally {
      this.started.delete(id);
      metrics.capturesInFlight(this.started.size);
    }
  }

  /**
   * Sends what waits, a batch per free call; the rest waits for a call to end. One whose deadline
   * passed while it waited is not sent: the API would refuse it, so it is answered 503 now.
   */
  private flush(): void {
    this.scheduled = false;
    const nowMs = Date.now();
    const late = this.waiting.filter(
      (entry) => (entry.payload.deadline ?? Number.POSITIVE_INFINITY) <= nowMs,
    );
    if (late.length > 0) {
      this.waiting = this.waiting.filter((entry) => !late.includes(entry));
      for (const entry of late) entry.reject(new ApiUnavailableError('the capture waited past its deadline'));
    }
    const size = Math.max(1, this.options.maxCaptureBatch ?? 25);
    const maxCalls = Math.max(1, this.options.maxCaptureCalls ?? 8);
    while (this.waiting.length > 0 && this.calls < maxCalls) void this.send(this.waiting.splice(0, size));
  }

  private async send(batch: CaptureGate['waiting']): Promise<void> {
    this.calls++;
    try {
      await this.sendNow(batch);
    } finally {
      this.calls--;
      if (this.waiting.length > 0 && !this.scheduled) this.flush();
    }
  }

  private async sendNow(batch: CaptureGate['waiting']): Promise<void> {
    const single = async (entry: CaptureGate['waiting'][number]) => {
      try {
        entry.resolve(await this.options.api.post('/v1/messages', entry.payload));
      } catch (error) {
        entry.reject(error);
      }
    };
    const [only] = batch;
    if (batch.length === 1 && only) return single(only);
    let answer: ApiAnswer;
    try {
      const request: CaptureBatchRequest = { messages: batch.map((entry) => entry.payload) };
      answer = await this.options.api.post('/v1/messages/batch', request);
    } catch (error) {
      for (const entry of batch) entry.reject(error);
      return;
    }
    const results = batchResults(answer, batch.length);
    if (results) {
      for (const [index, entry] of batch.entries()) entry.resolve(results[index] ?? answer);
    } else if (answer.status >= 500 || answer.status === 401) {
      for (const entry of batch) entry.resolve(answer); // the API is failing: each gets its 503
    } else {
      // refused as a whole (one malformed MESSAGE, or an API without the batch route): one by one
      await Promise.all(batch.map(single));
    }
  }
}

/** The per-message answers of a batch call, if it has one for each. */
function batchResults(answer: ApiAnswer, count: number): ApiAnswer[] | undefined {
  if (answer.status !== 200) return undefined;
  const parsed = CaptureBatchAnswerSchema.safeParse(answer.body);
  if (!parsed.success || parsed.data.results.length !== count) return undefined;
  return parsed.data.results;
}
