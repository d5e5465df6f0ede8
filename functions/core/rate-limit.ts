// A token bucket per key (a client address): `perMinute` requests a minute on average, bursts up
// to `burst`. Pure apart from the clock it is given; kept in memory by whoever uses it.
import { RateLimitedError } from '../../shared/errors.ts';

export interface RateDecision {
  allowed: boolean;
  /** When refused: seconds until one more request would be allowed (for Retry-After). */
  retryAfterSeconds: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly burst: number = perMinute,
    /** Most keys remembered; the least recently seen are forgotten first (a full bucket each). */
    private readonly maxKeys: number = 10_000,
  ) {}

  take(key: string, nowMs: number): RateDecision {
    const ratePerMs = this.perMinute / 60_000;
    const previous = this.buckets.get(key);
    const tokens = previous
      ? Math.min(this.burst, previous.tokens + (nowMs - previous.atMs) * ratePerMs)
      : this.burst;
    this.buckets.delete(key); // re-inserted last: the map's order is recency
    if (tokens < 1) {
      this.buckets.set(key, { tokens, atMs: nowMs });
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / ratePerMs / 1000)) };
    }
    this.buckets.set(key, { tokens: tokens - 1, atMs: nowMs });
    if (this.buckets.size > this.maxKeys) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    return { allowed: true, retryAfterSeconds: 0 };
  }
}

/** Takes one request of `key` from `buckets`, or refuses it (429 + Retry-After) naming `what`. */
export function takeOrRefuse(buckets: TokenBuckets, key: string, nowMs: number, what = 'requests'): void {
  const decision = buckets.take(key, nowMs);
  if (!decision.allowed) throw new RateLimitedError(decision.retryAfterSeconds, what);
}
