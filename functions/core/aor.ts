import { InvalidRequestError } from './errors.ts';

// sip:user@host[:port][;params][?headers], optionally inside <>; the AOR keeps user@host only.
const SIP_URI = /^<?sips?:([^@;?<>\s]+)@(\[[0-9a-fA-F:.]+\]|[^;?:<>\s]+)(?::\d+)?(?:[;?][^<>]*)?>?$/i;

/**
 * Normalizes a SIP URI to its address-of-record `sip:user@host`: scheme sips → sip, host in lower
 * case, port, parameters and headers dropped. The user part stays case-sensitive (RFC 3261 19.1.4).
 */
export function normalizeAor(uri: string): string {
  const match = SIP_URI.exec(uri.trim());
  const user = match?.[1];
  const host = match?.[2];
  if (user === undefined || host === undefined) {
    throw new InvalidRequestError(`"${uri}" is not a SIP address of record (expected sip:user@host)`);
  }
  return `sip:${user}@${host.toLowerCase()}`;
}

export function domainOf(aor: string): string {
  return aor.slice(aor.indexOf('@') + 1);
}

/** The mailbox an enterprise SIP address maps to: `sip:bob@example.com` → `bob@example.com`. */
export function emailOfAor(aor: string): string {
  return aor.replace(/^sip:/, '');
}
