// A request as the edge's handlers get it (edge/sip/parser.ts readRequest), for unit tests that
// hand requests straight to the transaction layer, the registrar or the app.
import { parseCSeq } from '../../edge/sip/cseq.ts';
import { getHeader, getHeaders, type ReceivedRequest, type SipRequest } from '../../edge/sip/message.ts';
import { parseNameAddr } from '../../edge/sip/name-addr.ts';
import { parseMessage, readRequest } from '../../edge/sip/parser.ts';
import { parseVia } from '../../edge/sip/via.ts';

/** The view of `request`; one the edge would refuse (a test of the layers behind the check) gets
 * its fields as written, so long as they parse. */
export function receivedRequest(request: SipRequest): ReceivedRequest {
  const read = readRequest(request);
  if ('request' in read) return read.request;
  return {
    ...request,
    callId: getHeader(request, 'call-id') ?? '',
    cseq: parseCSeq(getHeader(request, 'cseq') ?? ''),
    from: parseNameAddr(getHeader(request, 'from') ?? ''),
    to: parseNameAddr(getHeader(request, 'to') ?? ''),
    topVia: parseVia(getHeaders(request, 'via')[0] ?? ''),
    contacts: [],
    contactWildcard: false,
  };
}

/** Parses SIP text into the view the handlers get; throws if it is not a request. */
export function receivedRequestOf(text: string | Buffer): ReceivedRequest {
  const message = parseMessage(typeof text === 'string' ? Buffer.from(text) : text);
  if (message.kind !== 'request') throw new Error('expected a request');
  return receivedRequest(message);
}
