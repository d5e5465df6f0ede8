// Non-INVITE client transactions (RFC 3261 §17.1.2): the requests the edge sends itself
// (delivered MESSAGEs, NOTIFYs). Over UDP the request is retransmitted on Timer E, from T1
// doubling up to T2 (every T2 once a provisional response arrived); over TCP it is sent once.
// Timer F ends the wait with 408. A response matches by the top Via branch and the CSeq
// method (§17.1.3); 1xx keep the transaction waiting, the first final response ends it.
// Once ended, a late retransmitted response no longer matches and is ignored, which is what
// the Completed state (Timer K) would do for it.

import type { SipTarget } from '../shared/sip/uri.ts';
import { parseCSeq } from './sip/cseq.ts';
import { getHeader, getHeaders, type SipRequest, type SipResponse } from './sip/message.ts';
import { serializeRequest } from './sip/serialize.ts';
import { parseVia } from './sip/via.ts';
import type { SipLogger } from './transport.ts';

/** RFC 3261 §17.1.1.1 defaults. */
export const T1_MS = 500;
export const T2_MS = 4_000;

export interface ClientOutcome {
  /** The final status, or 408 (Timer F) / 480 (transport failure) / 503 (edge stopping). */
  status: number;
  reason: string;
  /** The final response, when one arrived. */
  response?: SipResponse;
  /** Set when the request could not be sent at all (connect or write failure). */
  transportFailure?: true;
}

/** Schedules `callback` after `ms`; returns a function that cancels it. Replaceable in tests. */
export type Schedule = (callback: () => void, ms: number) => () => void;

export const realSchedule: Schedule = (callback, ms) => {
  const timer = setTimeout(callback, ms);
  return () => clearTimeout(timer);
};

export interface ClientTransactionsOptions {
  /** Puts bytes on the wire (SipServer.send); rejects on a connect or write failure. */
  send: (bytes: Buffer, target: SipTarget) => Promise<void>;
  /** Timer F: how long to wait for a final response (64·T1 by default). */
  timerFMs?: number;
  t1Ms?: number;
  t2Ms?: number;
  schedule?: Schedule;
  logger?: SipLogger;
}

interface Pending {
  resolve: (outcome: ClientOutcome) => void;
  cancelTimers: Array<() => void>;
  proceeding: boolean;
}

export const TIMEOUT_REASON = 'Request Timeout';
export const TRANSPORT_FAILURE_REASON = 'Temporarily Unavailable (transport failure)';

export class ClientTransactions {
  private readonly pending = new Map<string, Pending>();
  private readonly send: ClientTransactionsOptions['send'];
  private readonly timerFMs: number;
  private readonly t1Ms: number;
  private readonly t2Ms: number;
  private readonly schedule: Schedule;
  private readonly log: SipLogger;
  private closed = false;

  constructor(options: ClientTransactionsOptions) {
    this.send = options.send;
    this.t1Ms = options.t1Ms ?? T1_MS;
    this.t2Ms = options.t2Ms ?? T2_MS;
    this.timerFMs = options.timerFMs ?? 64 * this.t1Ms;
    this.schedule = options.schedule ?? realSchedule;
    this.log = options.logger ?? (() => {});
  }

  /** Live transactions (tests, metrics). */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Sends `request` (whose top Via carries a fresh RFC 3261 branch) to `target` and resolves with
   * the final outcome. Never rejects: failures become 408, 480 or 503 outcomes.
   */
  request(request: SipRequest, target: SipTarget): Promise<ClientOutcome> {
    if (this.closed) return Promise.resolve({ status: 503, reason: 'Service Unavailable (edge stopping)' });
    const key = requestKey(request);
    if (this.pending.has(key)) throw new Error('a client transaction with this branch is already live');
    const bytes = serializeRequest(request);
    return new Promise<ClientOutcome>((resolve) => {
      const entry: Pending = { resolve: () => {}, cancelTimers: [], proceeding: false };
      entry.resolve = (outcome) => {
        if (this.pending.get(key) !== entry) return;
        this.pending.delete(key);
        for (const cancel of entry.cancelTimers) cancel();
        resolve(outcome);
      };
      this.pending.set(key, entry);
      entry.cancelTimers.push(
        this.schedule(() => entry.resolve({ status: 408, reason: TIMEOUT_REASON }), this.timerFMs),
      );
      if (target.transport === 'udp') this.armTimerE(entry, key, bytes, target, this.t1Ms);
      this.send(bytes, target).catch((error: unknown) => {
        this.log('warn', 'sip request could not be sent', {
          method: request.method,
          callId: getHeader(request, 'call-id'),
          to: `${target.transport}:${target.host}:${target.port}`,
          error: error instanceof Error ? error.message : String(error),
        });
        entry.resolve({ status: 480, reason: TRANSPORT_FAILURE_REASON, transportFailure: true });
      });
    });
  }

  /** Hands a received response to its transaction; false when it matches none (a stray or a late copy). */
  receive(response: SipResponse): boolean {
    let key: string;
    try {
      key = responseKey(response);
    } catch {
      return false;
    }
    const entry = this.pending.get(key);
    if (!entry) return false;
    if (response.status < 200) {
      entry.proceeding = true;
      return true;
    }
    entry.resolve({ status: response.status, reason: response.reason, response });
    return true;
  }

  /** Ends every live transaction with 503, so callers waiting on them return. */
  close(): void {
    this.closed = true;
    for (const entry of [...this.pending.values()]) {
      entry.resolve({ status: 503, reason: 'Service Unavailable (edge stopping)' });
    }
  }

  private armTimerE(entry: Pending, key: string, bytes: Buffer, target: SipTarget, intervalMs: number): void {
    entry.cancelTimers.push(
      this.schedule(() => {
        if (this.pending.get(key) !== entry) return;
        this.send(bytes, target).catch(() => {
          // A lost retransmission is what UDP retransmissions are for; Timer F ends the wait.
        });
        // §17.1.2.2: min(2·E, T2) while Trying; T2 once Proceeding.
        const next = entry.proceeding ? this.t2Ms : Math.min(2 * intervalMs, this.t2Ms);
        this.armTimerE(entry, key, bytes, target, next);
      }, intervalMs),
    );
  }
}

/**
 * When a UDP request is retransmitted (ms after the first send) while no response arrives:
 * T1, then doubling up to T2, until Timer F. The schedule `ClientTransactions` follows.
 */
export function retransmissionTimes(t1Ms: number, t2Ms: number, timerFMs: number): number[] {
  const times: number[] = [];
  let at = t1Ms;
  let interval = t1Ms;
  while (at < timerFMs) {
    times.push(at);
    interval = Math.min(2 * interval, t2Ms);
    at += interval;
  }
  return times;
}

/** Branch of the top Via and the CSeq method: what a response is matched by (§17.1.3). */
export function clientTransactionKey(branch: string, method: string): string {
  return `${branch}\u0000${method.toUpperCase()}`;
}

function requestKey(request: SipRequest): string {
  const branch = parseVia(getHeaders(request, 'via')[0] ?? '').params.branch;
  if (!branch) throw new Error('an outgoing request needs a Via branch');
  return clientTransactionKey(branch, parseCSeq(getHeader(request, 'cseq') ?? '').method);
}

function responseKey(response: SipResponse): string {
  const branch = parseVia(getHeaders(response, 'via')[0] ?? '').params.branch ?? '';
  return clientTransactionKey(branch, parseCSeq(getHeader(response, 'cseq') ?? '').method);
}
