// Non-INVITE client transactions (RFC 3261 §17.1.2): the requests the edge sends itself
// (delivered MESSAGEs, NOTIFYs). Over UDP the request is retransmitted on Timer E, from T1
// doubling up to T2 (every T2 once a provisional response arrived); over TCP it is sent once.
// Timer F ends the wait with 408. A response matches by the top Via branch and the CSeq
// method (§17.1.3); 1xx keep the transaction waiting, the first final response ends it.
// Once ended, a late retransmitted response no longer matches and is ignored, which is what
// the Completed state (Timer K) would do for it.

import type { SipTarget } from '../shared/sip/uri.ts';
import { type LocalSipAddress, newBranch } from './outgoing-request.ts';
import { parseCSeq } from './sip/cseq.ts';
import {
  getHeader,
  getHeaders,
  type ReceivedResponse,
  type SipRequest,
  type SipResponse,
} from './sip/message.ts';
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

/**
 * RFC 3261 §18.1.1: a request larger than 1300 bytes (the path MTU being unknown) goes over TCP,
 * which has congestion control and no fragmentation — and a 64 KiB message fits no datagram.
 */
export const UDP_MAX_REQUEST_BYTES = 1300;

/** What a transaction decides about the request it sends: where, from which address, its branch. */
export interface OutgoingVia {
  target: SipTarget;
  local: LocalSipAddress;
  /** The top Via branch, made by the transaction (RFC 3261 §8.1.1.7). */
  branch: string;
}

/** Builds the request for the Via the transaction chose; throws if it cannot be built. */
export type BuildRequest = (via: OutgoingVia) => SipRequest;

export interface ClientTransactionsOptions {
  /** Puts bytes on the wire (SipServer.send); rejects on a connect or write failure. */
  send: (bytes: Buffer, target: SipTarget) => Promise<void>;
  /** The address in our Via and Contact headers (read at each send: its port may be set late). */
  local: LocalSipAddress;
  /** Timer F: how long to wait for a final response (64·T1 by default). */
  timerFMs?: number;
  t1Ms?: number;
  t2Ms?: number;
  schedule?: Schedule;
  logger?: SipLogger;
}

interface Outgoing {
  request: SipRequest;
  bytes: Buffer;
  key: string;
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
  private readonly local: LocalSipAddress;
  private readonly timerFMs: number;
  private readonly t1Ms: number;
  private readonly t2Ms: number;
  private readonly schedule: Schedule;
  private readonly log: SipLogger;
  private closed = false;

  constructor(options: ClientTransactionsOptions) {
    this.send = options.send;
    this.local = options.local;
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
   * Sends what `build` makes to `target` and resolves with the final outcome: the transaction
   * gives it its branch and Via and serialises it once. A request meant for UDP that is larger
   * than UDP_MAX_REQUEST_BYTES goes over TCP, and as a datagram after all if the UA does not
   * take TCP (§18.1.1 allows it). Rejects only when `build` throws, before anything is sent;
   * every other failure becomes a 408, 480 or 503 outcome.
   */
  async originate(build: BuildRequest, target: SipTarget): Promise<ClientOutcome> {
    const first = this.built(build, target);
    if (target.transport === 'udp' && first.bytes.length > UDP_MAX_REQUEST_BYTES) {
      const tcp: SipTarget = { ...target, transport: 'tcp' };
      const outcome = await this.start(this.built(build, tcp), tcp);
      if (!outcome.transportFailure) return outcome;
    }
    return this.start(first, target);
  }

  private built(build: BuildRequest, target: SipTarget): Outgoing {
    const branch = newBranch();
    const request = build({ target, local: this.local, branch });
    return { request, bytes: serializeRequest(request), key: clientTransactionKey(branch, request.method) };
  }

  private start({ request, bytes, key }: Outgoing, target: SipTarget): Promise<ClientOutcome> {
    if (this.closed) return Promise.resolve({ status: 503, reason: 'Service Unavailable (edge stopping)' });
    if (this.pending.has(key)) throw new Error('a client transaction with this branch is already live');
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
  receive(response: SipResponse | ReceivedResponse): boolean {
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

/** A response read once (`readResponse`) carries them; any other is parsed here. */
function responseKey(response: SipResponse | ReceivedResponse): string {
  if ('topVia' in response)
    return clientTransactionKey(response.topVia.params.branch ?? '', response.cseq.method);
  const branch = parseVia(getHeaders(response, 'via')[0] ?? '').params.branch ?? '';
  return clientTransactionKey(branch, parseCSeq(getHeader(response, 'cseq') ?? '').method);
}
