import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { edgeConfigFromEnv } from '../../edge/config.ts';

beforeEach(() => {
  vi.stubEnv('HOLDOVER_API_URL', 'http://127.0.0.1:3000');
  vi.stubEnv('HOLDOVER_SECRET', 'secret');
  for (const name of [
    'OUTBOUND_PROXY',
    'DELIVERY_TIMEOUT',
    'MWI_POLL_INTERVAL',
    'HOLDOVER_DOMAINS',
    'SIP_MIN_EXPIRES',
    'SIP_HOST',
    'SIP_ADVERTISED_HOST',
    'HOLDOVER_TRUSTED_PROXIES',
    'HOLDOVER_DIGEST_ALGORITHMS',
    'HOLDOVER_CREDENTIALS_CACHE',
    'HOLDOVER_SIP_AUTH_FAILURES',
    'HOLDOVER_SIP_AUTH_SOURCE_FAILURES',
    'HOLDOVER_SIP_AUTH_WINDOW',
  ]) {
    vi.stubEnv(name, '');
  }
});

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('edge configuration', () => {
  it('defaults: no proxy, Timer F 32 s, poll 30 s, the three local domains, min expiry 60 s', () => {
    const config = edgeConfigFromEnv();
    expect(config.outboundProxy).toBeUndefined();
    expect(config.deliveryTimeoutMs).toBe(32_000);
    expect(config.mwiPollIntervalMs).toBe(30_000);
    expect(config.domains).toEqual(['example.com', 'localhost', '127.0.0.1']);
    expect(config.minExpiresSeconds).toBe(60);
    expect(config.sipAdvertisedHost).toBe('127.0.0.1');
  });

  it('reads OUTBOUND_PROXY as a SIP URI with its transport', () => {
    vi.stubEnv('OUTBOUND_PROXY', 'sip:127.0.0.1:5060;transport=tcp');
    expect(edgeConfigFromEnv().outboundProxy).toEqual({
      uri: 'sip:127.0.0.1:5060;transport=tcp',
      target: { transport: 'tcp', host: '127.0.0.1', port: 5060 },
    });
  });

  it('reads durations, domains and the advertised host', () => {
    vi.stubEnv('DELIVERY_TIMEOUT', '2s');
    vi.stubEnv('MWI_POLL_INTERVAL', '500ms');
    vi.stubEnv('HOLDOVER_DOMAINS', 'Corp.Example, example.org');
    vi.stubEnv('SIP_HOST', '0.0.0.0');
    vi.stubEnv('SIP_ADVERTISED_HOST', '10.0.0.5');
    const config = edgeConfigFromEnv();
    expect(config.deliveryTimeoutMs).toBe(2000);
    expect(config.mwiPollIntervalMs).toBe(500);
    expect(config.domains).toEqual(['corp.example', 'example.org']);
    expect(config.sipAdvertisedHost).toBe('10.0.0.5');
  });

  it.each([
    ['OUTBOUND_PROXY', 'http://proxy'],
    ['OUTBOUND_PROXY', 'sips:proxy.example.com'],
    ['OUTBOUND_PROXY', 'sip:proxy.example.com;transport=sctp'],
    ['DELIVERY_TIMEOUT', '32'],
    ['MWI_POLL_INTERVAL', 'often'],
    ['HOLDOVER_DOMAINS', ' , '],
    ['SIP_MIN_EXPIRES', '0'],
    ['SIP_MIN_EXPIRES', '7200'],
  ])('a bad %s (%s) stops the edge with the variable’s name', (name, value) => {
    vi.stubEnv(name, value);
    expect(() => edgeConfigFromEnv()).toThrow(name);
  });

  it('trusts no proxy by default, offers SHA-256 then MD5, caches credentials 30 s', () => {
    const config = edgeConfigFromEnv();
    expect(config.trustedProxies.ranges).toEqual([]);
    expect(config.trustedProxies.has('127.0.0.1')).toBe(false);
    expect(config.digestAlgorithms).toEqual(['SHA-256', 'MD5']);
    expect(config.credentialsCacheMs).toBe(30_000);
  });

  it('reads HOLDOVER_TRUSTED_PROXIES as CIDRs (IPv4, IPv6, a bare address is one host)', () => {
    vi.stubEnv('HOLDOVER_TRUSTED_PROXIES', '10.0.0.0/16, 192.0.2.7,2001:db8::/32');
    const trusted = edgeConfigFromEnv().trustedProxies;
    expect(trusted.ranges).toEqual(['10.0.0.0/16', '192.0.2.7/32', '2001:db8::/32']);
    expect(trusted.has('10.0.255.1')).toBe(true);
    expect(trusted.has('::ffff:10.0.3.4')).toBe(true);
    expect(trusted.has('10.1.0.1')).toBe(false);
    expect(trusted.has('192.0.2.7')).toBe(true);
    expect(trusted.has('192.0.2.8')).toBe(false);
    expect(trusted.has('2001:db8:1::5')).toBe(true);
    expect(trusted.has('not an address')).toBe(false);
  });

  it.each(['10.0.0.0/33', 'example.com', '10.0.0/8', '10.0.0.0/8/1', '10.0.0.0/x'])(
    'refuses HOLDOVER_TRUSTED_PROXIES=%s naming the variable',
    (value) => {
      vi.stubEnv('HOLDOVER_TRUSTED_PROXIES', value);
      expect(() => edgeConfigFromEnv()).toThrow(/HOLDOVER_TRUSTED_PROXIES must be comma-separated CIDRs/);
    },
  );

  it('throttles wrong digest passwords: 5 per AOR, 20 per source in 5 minutes unless set', () => {
    expect(edgeConfigFromEnv().sipAuthThrottle).toEqual({
      aorLimit: 5,
      sourceLimit: 20,
      windowMs: 300_000,
      maxKeys: 10_000,
    });
    vi.stubEnv('HOLDOVER_SIP_AUTH_FAILURES', '3');
    vi.stubEnv('HOLDOVER_SIP_AUTH_SOURCE_FAILURES', '10');
    vi.stubEnv('HOLDOVER_SIP_AUTH_WINDOW', '15m');
    expect(edgeConfigFromEnv().sipAuthThrottle).toMatchObject({
      aorLimit: 3,
      sourceLimit: 10,
      windowMs: 900_000,
    });
    vi.stubEnv('HOLDOVER_SIP_AUTH_FAILURES', '0');
    expect(() => edgeConfigFromEnv()).toThrow(/HOLDOVER_SIP_AUTH_FAILURES/);
    vi.stubEnv('HOLDOVER_SIP_AUTH_FAILURES', '');
    vi.stubEnv('HOLDOVER_SIP_AUTH_WINDOW', 'soon');
    expect(() => edgeConfigFromEnv()).toThrow(/HOLDOVER_SIP_AUTH_WINDOW/);
  });

  it('takes HOLDOVER_DIGEST_ALGORITHMS in order and refuses others', () => {
    vi.stubEnv('HOLDOVER_DIGEST_ALGORITHMS', 'md5,sha-256');
    expect(edgeConfigFromEnv().digestAlgorithms).toEqual(['MD5', 'SHA-256']);
    vi.stubEnv('HOLDOVER_DIGEST_ALGORITHMS', 'SHA-512-256');
    expect(() => edgeConfigFromEnv()).toThrow(/HOLDOVER_DIGEST_ALGORITHMS/);
  });
});
