// Failed SIP digest answers counted per AOR and per source address (docs/design.md "Security"),
// so nobody can guess a user's SIP password as fast as the network allows. A sliding window per
// key: at most `limit` failures within `windowMs`; once a key holds that many, further attempts
// are refused (without checking the password) until the oldest of them leaves the window. So a
// guesser gets at most `limit` tries per window per AOR and per source. Memory is bounded: each
// key keeps at most `limit` timestamps and at most `maxKeys` keys are tracked, the least
// recently touched forgotten first, so a flood of random AORs or spoofed sources cannot exhaust
// memory (forgetting only ever forgets failures). Pure apart from the clock it is given.

import { isIPv4, isIPv6 } from 'node:net';
import type { SipAuthThrottleReason } from '../shared/metric-names.ts';

export interface ThrottlePolicy {
  /** Failures within the window that make a key refused. */
  limit: number;
  windowMs: number;
  /** Most keys remembered. */
  maxKeys: number;
}

/** The defaults (HOLDOVER_SIP_AUTH_*): 5 failures per AOR and 20 per source in 5 minutes. */
export const SIP_AUTH_THROTTLE_DEFAULTS: SipAuthThrottleSettings = {
  aorLimit: 5,
  sourceLimit: 20,
  windowMs: 5 * 60_000,
  maxKeys: 10_000,
};

export interface SipAuthThrottleSettings {
  aorLimit: number;
  sourceLimit: number;
  windowMs: number;
  /** Most AORs and most sources tracked (each). */
  maxKeys: number;
}

export class FailureWindows {
  /** Failure times per key, oldest first, at most `limit`; the map's order is recency. */
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly policy: ThrottlePolicy) {
    if (!(policy.limit >= 1 && policy.windowMs > 0 && policy.maxKeys >= 1)) {
      throw new Error('a throttle needs limit ≥ 1, windowMs > 0 and maxKeys ≥ 1');
    }
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  refusedForMs(key: string, nowMs: number): number {
    const times = this.recent(key, nowMs);
    if (times === undefined || times.length < this.policy.limit) return 0;
    return Math.max(1, (times[0] ?? nowMs) + this.policy.windowMs - nowMs);
  }

  /** Records a failure; true when it made the key refused (for a log line at that moment). */
  fail(key: string, nowMs: number): boolean {
    const times = this.recent(key, nowMs) ?? [];
    times.push(nowMs);
    while (times.length > this.policy.limit) times.shift();
    this.failures.delete(key); // re-inserted last: most recently touched
    this.failures.set(key, times);
    while (this.failures.size > this.policy.maxKeys) {
      const oldest = this.failures.keys().next().value;
      if (oldest === undefined) break;
      this.failures.delete(oldest);
    }
    return times.length === this.policy.limit;
  }

  /** Forgets a key's failures (a right password for that AOR). */
  reset(key: string): void {
    this.failures.delete(key);
  }

  /** Keys tracked now (for tests of the bound). */
  get size(): number {
    return this.failures.size;
  }

  private recent(key: string, nowMs: number): number[] | undefined {
    const times = this.failures.get(key);
    if (times === undefined) return undefined;
    const since = nowMs - this.policy.windowMs;
    while (times.length > 0 && (times[0] ?? 0) <= since) times.shift();
    if (times.length === 0) {
      this.failures.delete(key);
      return undefined;
    }
    return times;
  }
}

export type ThrottleReason = SipAuthThrottleReason;

/**
 * The key a source address is counted under: an IPv4 address as it is (an IPv4-mapped IPv6 one
 * unwrapped), an IPv6 address by its /64, since one host or site usually holds a whole /64 and
 * would otherwise get a fresh count per address.
 */
export function sourceKeyOf(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined) return mapped;
  if (isIPv4(address) || !isIPv6(address)) return address;
  const [head = '', tail] = address.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** Both windows: a request is refused when its AOR or its source is. */
export class SipAuthThrottle {
  private readonly byAor: FailureWindows;
  private readonly bySource: FailureWindows;

  constructor(settings: SipAuthThrottleSettings = SIP_AUTH_THROTTLE_DEFAULTS) {
    const { windowMs, maxKeys } = settings;
    this.byAor = new FailureWindows({ limit: settings.aorLimit, windowMs, maxKeys });
    this.bySource = new FailureWindows({ limit: settings.sourceLimit, windowMs, maxKeys });
  }

  /** Why and for how long (whole seconds, for Retry-After) an attempt is refused; undefined: go on. */
  refused(
    aor: string,
    source: string,
    nowMs: number,
  ): { reason: ThrottleReason; retryAfterSeconds: number } | undefined {
    const aorMs = this.byAor.refusedForMs(aor, nowMs);
    const sourceMs = this.bySource.refusedForMs(sourceKeyOf(source), nowMs);
    if (aorMs === 0 && sourceMs === 0) return undefined;
    const reason: ThrottleReason = aorMs >= sourceMs ? 'aor' : 'source';
    return { reason, retryAfterSeconds: Math.ceil(Math.max(aorMs, sourceMs) / 1000) };
  }

  /** A wrong password: counted for both; returns the keys this failure just made refused. */
  failed(aor: string, source: string, nowMs: number): ThrottleReason[] {
    const now: ThrottleReason[] = [];
    if (this.byAor.fail(aor, nowMs)) now.push('aor');
    if (this.bySource.fail(sourceKeyOf(source), nowMs)) now.push('source');
    return now;
  }

  /**
   * A right password resets the AOR's count only: resetting the source's would let a guesser
   * with one account of their own clear their address's count between guesses at others.
   */
  succeeded(aor: string): void {
    this.byAor.reset(aor);
  }
}
