// Server transactions (RFC 3261 §17.2), reduced to what the edge needs: recognise a
// retransmitted request, absorb it while the first copy is still being handled, and answer
// it from the stored final response once there is one. Responses are not retransmitted on
// our own timers; the client's retransmissions drive recovery, which is all non-INVITE needs
// (§17.2.2) and, for the rare INVITE, gets its final response repeated until the ACK.

import { getHeaders, type ReceivedRequest } from './sip/message.ts';

/** 64 × T1: how long a completed transaction answers retransmissions over UDP (Timer J/H). */
export const TIMER_J_UNRELIABLE_MS = 32_000;
/** T4: how long a confirmed INVITE transaction absorbs late retransmissions (Timer I). */
const TIMER_I_UNRELIABLE_MS = 5_000;
const MAGIC_COOKIE = 'z9hG4bK';

export type TransactionVerdict =
  /** First copy: handle it, then call `complete(key, …)` with the final response. */
  | { kind: 'new'; key: string }
  /** A retransmission while the first copy is still being handled: absorb it. */
  | { kind: 'pending' }
  /** A retransmission of a completed transaction: send `response` again. */
  | { kind: 'retransmission'; response: Buffer }
  /** An ACK: never answered (it matched an INVITE transaction or belongs to a 2xx). */
  | { kind: 'ack' };

export interface ServerTransactionsOptions {
  /** Bound on live transactions; the oldest are dropped first. Default 100 000. */
  maxEntries?: number;
  /** How often expired transactions are swept. Default 1 s. */
  sweepIntervalMs?: number;
  /** A transaction whose request is still being handled after this long is forgotten. Default 120 s. */
  pendingTimeoutMs?: number;
  /** Clock in milliseconds, replaceable in tests. */
  now?: () => number;
}

interface Transaction {
  state: 'proceeding' | 'completed' | 'confirmed';
  response: Buffer | undefined;
  expiresAt: number;
}

export class ServerTransactions {
  private readonly entries = new Map<string, Transaction>();
  private readonly maxEntries: number;
  private readonly pendingTimeoutMs: number;
  private readonly now: () => number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: ServerTransactionsOptions = {}) {
    this.maxEntries = options.maxEntries ?? 100_000;
    this.pendingTimeoutMs = options.pendingTimeoutMs ?? 120_000;
    this.now = options.now ?? Date.now;
    // unref: an idle transaction table must not keep the process alive.
    this.sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 1_000).unref();
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Matches an incoming request (already validated) against the live transactions.
   * `reliable` is true for TCP, where completed transactions are not kept (Timer J = 0).
   */
  receive(req: ReceivedRequest, reliable: boolean): TransactionVerdict {
    const now = this.now();
    if (req.method === 'ACK') {
      for (const key of inviteKeysForAck(req)) {
        const invite = this.live(key, now);
        if (invite && invite.state === 'completed') {
          invite.state = 'confirmed';
          invite.expiresAt = now + (reliable ? 0 : TIMER_I_UNRELIABLE_MS);
          break;
        }
      }
      return { kind: 'ack' };
    }
    const key = transactionKey(req, req.method);
    const existing = this.live(key, now);
    if (existing) {
      if (existing.state === 'completed' && existing.response) {
        return { kind: 'retransmission', response: existing.response };
      }
      return { kind: 'pending' };
    }
    if (this.entries.size >= this.maxEntries) this.evictOldest();
    this.entries.set(key, {
      state: 'proceeding',
      response: undefined,
      expiresAt: now + this.pendingTimeoutMs,
    });
    return { kind: 'new', key };
  }

  /** Stores the final response sent for transaction `key`, to answer retransmissions with. */
  complete(key: string, response: Buffer, reliable: boolean): void {
    if (reliable) {
      // Timer J is zero on reliable transports: the transaction ends with its response.
      this.entries.delete(key);
      return;
    }
    const entry = this.entries.get(key);
    const expiresAt = this.now() + TIMER_J_UNRELIABLE_MS;
    if (entry) {
      entry.state = 'completed';
      entry.response = response;
      entry.expiresAt = expiresAt;
    } else {
      if (this.entries.size >= this.maxEntries) this.evictOldest();
      this.entries.set(key, { state: 'completed', response, expiresAt });
    }
  }

  /** Drops expired transactions; called by the sweep timer, public for tests. */
  sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt <= now) this.entries.delete(key);
    }
  }

  close(): void {
    clearInterval(this.sweeper);
    this.entries.clear();
  }

  private live(key: string, now: number): Transaction | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private evictOldest(): void {
    // Map iteration follows insertion order, so the first key is the oldest transaction.
    for (const key of this.entries.keys()) {
      this.entries.delete(key);
      return;
    }
  }
}

/**
 * The key identifying the server transaction of `req` (RFC 3261 §17.2.3): with an RFC 3261
 * branch, branch + sent-by + method (ACK counting as INVITE); otherwise the RFC 2543 tuple of
 * Request-URI, To tag, From tag, Call-ID, CSeq and top Via.
 */
export function transactionKey(req: ReceivedRequest, method: string): string {
  const via = req.topVia;
  const branch = via.params.branch;
  if (branch?.startsWith(MAGIC_COOKIE) && branch.length > MAGIC_COOKIE.length) {
    const sentBy = via.port === undefined ? via.host : `${via.host}:${via.port}`;
    return `3261\u0000${branch}\u0000${sentBy}\u0000${method}`;
  }
  return rfc2543Key(req, method, req.to.params.tag ?? '');
}

function rfc2543Key(req: ReceivedRequest, method: string, toTag: string): string {
  return [
    '2543',
    req.uri,
    toTag,
    req.from.params.tag ?? '',
    req.callId,
    String(req.cseq.seq),
    method,
    getHeaders(req, 'via')[0] ?? '',
  ].join('\u0000');
}

/**
 * Keys of the INVITE transaction an ACK may belong to. With RFC 2543 identifiers the ACK
 * carries the To tag of our response, which the INVITE lacked, so both forms are tried.
 */
function inviteKeysForAck(req: ReceivedRequest): string[] {
  const key = transactionKey(req, 'INVITE');
  if (key.startsWith('3261')) return [key];
  return [key, rfc2543Key(req, 'INVITE', '')];
}
