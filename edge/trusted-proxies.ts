// HOLDOVER_TRUSTED_PROXIES: source ranges (CIDRs) of SIP proxies that authenticated their users
// themselves. Their requests — third-party REGISTER copies, failure-routed MESSAGEs — are taken
// without a digest challenge (docs/design.md "Security").
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export interface TrustedProxies {
  /** The ranges as configured, for logs. */
  readonly ranges: readonly string[];
  has(address: string): boolean;
}

/** Parses comma-separated CIDRs (a bare address is one host); throws naming `variable`. */
export function parseTrustedProxies(text: string, variable = 'HOLDOVER_TRUSTED_PROXIES'): TrustedProxies {
  const list = new BlockList();
  const ranges: string[] = [];
  for (const entry of text.split(',').map((part) => part.trim())) {
    if (entry === '') continue;
    const [address = '', prefixText, extra] = entry.split('/');
    const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
    const bits = family === 'ipv4' ? 32 : 128;
    const prefix = prefixText === undefined ? bits : Number(prefixText);
    if (
      family === undefined ||
      extra !== undefined ||
      (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) ||
      !Number.isInteger(prefix) ||
      prefix < 0 ||
      prefix > bits
    ) {
      throw new Error(
        `${variable} must be comma-separated CIDRs such as 10.0.0.0/16,192.0.2.7/32, got "${entry}"`,
      );
    }
    list.addSubnet(address, prefix, family);
    ranges.push(`${address}/${prefix}`);
  }
  return {
    ranges,
    has: (source) => {
      // an IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d
      const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(source)?.[1];
      const address = mapped ?? source;
      if (isIPv4(address)) return list.check(address, 'ipv4');
      if (isIPv6(address)) return list.check(address, 'ipv6');
      return false;
    },
  };
}
