// Requests the edge originates (RFC 3261 §8.1.1): delivered MESSAGEs and NOTIFYs. Pure: the
// caller supplies the branch and tags, so what goes on the wire can be checked byte by byte.

import type { SipTarget, SipTransportName } from '../shared/sip/uri.ts';
import type { SipHeader, SipRequest } from './sip/message.ts';
import { randomHex } from './sip/random.ts';

/** The address the edge puts in its Via and Contact headers (SIP_HOST / SIP_PORT). */
export interface LocalSipAddress {
  host: string;
  port: number;
}

export interface OutgoingRequestSpec {
  method: string;
  requestUri: string;
  /** Where the request goes; its transport is named in the Via. */
  target: SipTarget;
  local: LocalSipAddress;
  /** Top Via branch, starting with the RFC 3261 magic cookie (see `newBranch`). */
  branch: string;
  /** Complete header values, tags included. */
  from: string;
  to: string;
  callId: string;
  cseq: number;
  /** Further headers in order (Route, Event, Date, …), after the mandatory ones. */
  headers?: readonly SipHeader[];
  body?: Buffer;
}

const EMPTY = Buffer.alloc(0);

export function buildOutgoingRequest(spec: OutgoingRequestSpec): SipRequest {
  const headers: SipHeader[] = [
    { name: 'via', value: viaOf(spec.local, spec.target.transport, spec.branch) },
    { name: 'max-forwards', value: '70' },
    { name: 'from', value: spec.from },
    { name: 'to', value: spec.to },
    { name: 'call-id', value: spec.callId },
    { name: 'cseq', value: `${spec.cseq} ${spec.method}` },
    ...(spec.headers ?? []),
  ];
  return {
    kind: 'request',
    method: spec.method,
    uri: spec.requestUri,
    version: 'SIP/2.0',
    headers,
    body: spec.body ?? EMPTY,
  };
}

/** `SIP/2.0/UDP host:port;branch=…;rport` (RFC 3581: ask for the response at our source port). */
export function viaOf(local: LocalSipAddress, transport: SipTransportName, branch: string): string {
  return `SIP/2.0/${transport.toUpperCase()} ${uriHost(local.host)}:${local.port};branch=${branch};rport`;
}

/** Our Contact for a dialog (NOTIFY, 200 to SUBSCRIBE): where in-dialog requests reach us. */
export function contactOf(local: LocalSipAddress, transport: SipTransportName): string {
  return `<sip:${uriHost(local.host)}:${local.port};transport=${transport}>`;
}

/** A branch with the RFC 3261 magic cookie and 64 random bits. */
export function newBranch(): string {
  return `z9hG4bK${randomHex(8)}`;
}

/** `"Alice \"A\" Smith" <sip:alice@example.com>`: a quoted display name (§25.1 quoted-string). */
export function nameAddr(uri: string, displayName?: string): string {
  if (displayName === undefined || displayName === '') return `<${uri}>`;
  return `"${displayName.replace(/[\\"]/g, (ch) => `\\${ch}`)}" <${uri}>`;
}

/** RFC 1123 date in GMT as SIP's Date header wants it (§20.17): `Sat, 21 Nov 2026 10:00:00 GMT`. */
export function sipDate(date: Date): string {
  return date.toUTCString();
}

/** An IPv6 address goes into a URI or Via in brackets. */
function uriHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
