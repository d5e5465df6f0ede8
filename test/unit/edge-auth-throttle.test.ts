// The limiter of wrong SIP digest passwords (edge/auth-throttle.ts): a sliding window per key,
// per AOR and per source, bounded in keys, reset by a right password for the AOR only.
import { describe, expect, it } from 'vitest';
import { FailureWindows, SipAuthThrottle, sourceKeyOf } from '../../edge/auth-throttle.ts';

const MINUTE = 60_000;

describe('a failure window', () => {
  it('refuses a key once it holds `limit` failures, until the oldest leaves the window', () => {
    const windows = new FailureWindows({ limit: 3, windowMs: 5 * MINUTE, maxKeys: 100 });
    expect(windows.fail('a', 0)).toBe(false);
    expect(windows.fail('a', MINUTE)).toBe(false);
    expect(windows.refusedForMs('a', MINUTE)).toBe(0);
    expect(windows.fail('a', 2 * MINUTE)).toBe(true);
    expect(windows.refusedForMs('a', 2 * MINUTE)).toBe(3 * MINUTE);
    expect(windows.refusedForMs('a', 5 * MINUTE - 1)).toBe(1);
    // the first failure has left the window: one more try, and a failure refuses again
    expect(windows.refusedForMs('a', 5 * MINUTE)).toBe(0);
    expect(windows.fail('a', 5 * MINUTE)).toBe(true);
    expect(windows.refusedForMs('a', 5 * MINUTE)).toBe(MINUTE);
    // all gone after a whole window of quiet
    expect(windows.refusedForMs('a', 10 * MINUTE)).toBe(0);
    expect(windows.size).toBe(0);
  });

  it('counts keys apart', () => {
    const windows = new FailureWindows({ limit: 2, windowMs: MINUTE, maxKeys: 100 });
    windows.fail('a', 0);
    windows.fail('a', 1);
    windows.fail('b', 1);
    expect(windows.refusedForMs('a', 2)).toBeGreaterThan(0);
    expect(windows.refusedForMs('b', 2)).toBe(0);
  });

  it('tracks at most maxKeys keys, forgetting the least recently touched first', () => {
    const windows = new FailureWindows({ limit: 2, windowMs: MINUTE, maxKeys: 50 });
    windows.fail('kept', 0);
    windows.fail('kept', 0);
    for (let i = 0; i < 10_000; i++) {
      windows.fail(`sip:random${i}@example.com`, 1);
      if (i % 40 === 0) windows.fail('kept', 1); // touched now and then: stays
      expect(windows.size).toBeLessThanOrEqual(50);
    }
    expect(windows.refusedForMs('kept', 2)).toBeGreaterThan(0);
    expect(windows.refusedForMs('sip:random0@example.com', 2)).toBe(0); // forgotten
  });

  it('keeps at most `limit` times per key however many failures come', () => {
    const windows = new FailureWindows({ limit: 3, windowMs: MINUTE, maxKeys: 10 });
    for (let i = 0; i < 1000; i++) windows.fail('a', i);
    // refused until the third-last failure (at 997) leaves the window
    expect(windows.refusedForMs('a', 1000)).toBe(997 + MINUTE - 1000);
  });

  it('forgets a key on reset', () => {
    const windows = new FailureWindows({ limit: 1, windowMs: MINUTE, maxKeys: 10 });
    windows.fail('a', 0);
    expect(windows.refusedForMs('a', 0)).toBeGreaterThan(0);
    windows.reset('a');
    expect(windows.refusedForMs('a', 0)).toBe(0);
  });

  it('refuses a policy that could never refuse or remember', () => {
    expect(() => new FailureWindows({ limit: 0, windowMs: MINUTE, maxKeys: 10 })).toThrow(/limit/);
    expect(() => new FailureWindows({ limit: 1, windowMs: 0, maxKeys: 10 })).toThrow(/windowMs/);
  });
});

describe('the SIP auth throttle', () => {
  const settings = { aorLimit: 5, sourceLimit: 20, windowMs: 5 * MINUTE, maxKeys: 1000 };

  it('refuses an AOR after 5 wrong passwords, from any source, with the seconds left', () => {
    const throttle = new SipAuthThrottle(settings);
    for (let i = 0; i < 4; i++) expect(throttle.failed('sip:bob@example.com', '192.0.2.1', i)).toEqual([]);
    expect(throttle.failed('sip:bob@example.com', '192.0.2.1', 4)).toEqual(['aor']);
    expect(throttle.refused('sip:bob@example.com', '198.51.100.9', 4)).toEqual({
      reason: 'aor',
      retryAfterSeconds: 300,
    });
    expect(throttle.refused('sip:alice@example.com', '192.0.2.1', 4)).toBeUndefined();
    expect(throttle.refused('sip:bob@example.com', '192.0.2.1', 5 * MINUTE)).toBeUndefined();
  });

  it('refuses a source after 20 wrong passwords, whatever AORs they were for', () => {
    const throttle = new SipAuthThrottle(settings);
    let became: string[] = [];
    for (let i = 0; i < 20; i++)
      became = throttle.failed(`sip:user${i}@example.com`, '203.0.113.5', 1000 + i);
    expect(became).toEqual(['source']);
    expect(throttle.refused('sip:someone-else@example.com', '203.0.113.5', 2000)).toEqual({
      reason: 'source',
      retryAfterSeconds: Math.ceil((1000 + 5 * MINUTE - 2000) / 1000),
    });
    expect(throttle.refused('sip:someone-else@example.com', '203.0.113.6', 2000)).toBeUndefined();
  });

  it('forgets the AOR’s failures on a right password, but not the source’s', () => {
    const throttle = new SipAuthThrottle({ ...settings, sourceLimit: 6 });
    for (let i = 0; i < 4; i++) throttle.failed('sip:bob@example.com', '192.0.2.1', i);
    throttle.succeeded('sip:bob@example.com');
    for (let i = 0; i < 4; i++)
      expect(throttle.failed('sip:bob@example.com', '192.0.2.2', 10 + i)).toEqual([]);
    expect(throttle.refused('sip:bob@example.com', '192.0.2.2', 20)).toBeUndefined();
    // the first source's count was kept: two more failures from it make it refused
    throttle.failed('sip:carol@example.com', '192.0.2.1', 21);
    expect(throttle.failed('sip:dave@example.com', '192.0.2.1', 22)).toEqual(['source']);
  });
});

describe('the source key', () => {
  it('is an IPv4 address as it is, unwrapped when IPv4-mapped, and an IPv6 address’s /64', () => {
    expect(sourceKeyOf('192.0.2.1')).toBe('192.0.2.1');
    expect(sourceKeyOf('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(sourceKeyOf('2001:db8:0:1::7')).toBe('2001:db8:0:1::/64');
    expect(sourceKeyOf('2001:DB8:0000:0001:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:0:1::/64');
    expect(sourceKeyOf('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(sourceKeyOf('::1')).toBe('0:0:0:0::/64');
  });

  it('makes every address of one IPv6 /64 one source', () => {
    const throttle = new SipAuthThrottle({ aorLimit: 100, sourceLimit: 3, windowMs: MINUTE, maxKeys: 100 });
    for (let i = 1; i <= 3; i++) throttle.failed(`sip:u${i}@example.com`, `2001:db8:0:1::${i}`, i);
    expect(throttle.refused('sip:x@example.com', '2001:db8:0:1:ffff::9', 4)?.reason).toBe('source');
    expect(throttle.refused('sip:x@example.com', '2001:db8:0:2::1', 4)).toBeUndefined();
  });
});
