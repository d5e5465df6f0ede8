// Via header values (RFC 3261 §20.42): the sent protocol, sent-by and parameters.
import { HOSTNAME, IPV6_REFERENCE, SipParseError, TOKEN_CHARS, trimLws } from '../../shared/sip/grammar.ts';
import { parseParams } from './name-addr.ts';

export interface Via {
  /** 'SIP/2.0' (name and version with the surrounding whitespace removed). */
  protocol: string;
  /** Upper-cased: 'UDP', 'TCP', 'TLS', 'SCTP', or an extension. */
  transport: string;
  /** Lower-cased sent-by host; an IPv6 reference keeps its brackets. */
  host: string;
  port?: number;
  params: Record<string, string | null>;
}

const SENT_PROTOCOL = new RegExp(
  `^[ \\t]*([${TOKEN_CHARS}]+)[ \\t]*/[ \\t]*([${TOKEN_CHARS}]+)[ \\t]*/[ \\t]*([${TOKEN_CHARS}]+)[ \\t]+([^;]*)`,
);
const SENT_BY = /^(\[[0-9A-Fa-f:.]+\]|[^\s:]+)(?:[ \t]*:[ \t]*([0-9]{1,5}))?$/;

/** Parses one Via value (already split from its list), e.g. `SIP/2.0/UDP host:5060;branch=…`. */
export function parseVia(value: string): Via {
  const match = SENT_PROTOCOL.exec(value);
  if (!match) throw new SipParseError('Malformed Via');
  const [whole, name = '', version = '', transport = '', sentByText = ''] = match;
  const sentBy = SENT_BY.exec(trimLws(sentByText));
  if (!sentBy?.[1]) throw new SipParseError('Malformed Via sent-by');
  const host = sentBy[1];
  if (!IPV6_REFERENCE.test(host) && !HOSTNAME.test(host)) throw new SipParseError('Malformed Via host');
  const via: Via = {
    protocol: `${name.toUpperCase()}/${version}`,
    transport: transport.toUpperCase(),
    host: host.toLowerCase(),
    params: parseParams(value.slice(whole.length)),
  };
  if (sentBy[2] !== undefined) {
    const port = Number(sentBy[2]);
    if (port > 65535) throw new SipParseError('Malformed Via port');
    via.port = port;
  }
  return via;
}

/** Formats a Via value from its parts (used when stamping received/rport). */
export function formatVia(via: Via): string {
  let text = `${via.protocol}/${via.transport} ${via.host}`;
  if (via.port !== undefined) text += `:${via.port}`;
  for (const [name, paramValue] of Object.entries(via.params)) {
    text += paramValue === null ? `;${name}` : `;${name}=${paramValue}`;
  }
  return text;
}
