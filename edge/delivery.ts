// Delivery of held messages (DESIGN.md "Delivery"): the delivery function hands the edge one
// recipient's messages in a signed `POST /deliver`; the edge sends each as a MESSAGE from the
// original sender, strictly one after another (RFC 3428 §8: the next only after the final
// response to the previous), and returns each outcome. 408, 480 and 5xx stop the batch (the
// user went away or their UA is failing: the rest stays held); other failures are permanent
// for that message only.

import { z } from 'zod';
import type { ClientOutcome } from './client-transactions.ts';
import { logger } from './log.ts';
import {
  buildOutgoingRequest,
  type LocalSipAddress,
  nameAddr,
  newBranch,
  sipDate,
  targetOfUri,
  UnsupportedTargetError,
} from './outgoing-request.ts';
import { expandCompact, type SipHeader, type SipRequest } from './sip/message.ts';
import { newTag, serializeRequest } from './sip/serialize.ts';
import { isToken, parseUri } from './sip/uri.ts';
import type { SipTarget } from './transport.ts';

/** Marks every MESSAGE the edge delivers, so a proxy never routes it back to Holdover (docs/proxy-integration.md). */
export const DELIVERY_MARK = 'x-holdover-delivery';

// Headers the edge writes itself; a held message's extra headers may not replace them.
const RESERVED_HEADERS = new Set([
  'via',
  'max-forwards',
  'from',
  'to',
  'call-id',
  'cseq',
  'date',
  'content-type',
  'content-length',
  'route',
  'record-route',
  DELIVERY_MARK,
]);

function isSipUri(text: string): boolean {
  try {
    const scheme = parseUri(text).scheme;
    return scheme === 'sip' || scheme === 'sips';
  } catch {
    return false;
  }
}

const SipUriSchema = z.string().min(1).max(2048).refine(isSipUri, { message: 'must be a SIP URI' });
const NoLineBreak = /^[^\r\n\0]*$/;
// RFC 3261 §25.1 Call-ID: word [ "@" word ]
const CALL_ID = /^[A-Za-z0-9\-.!%*_+`'~()<>:\\"/[\]?{}]+(?:@[A-Za-z0-9\-.!%*_+`'~()<>:\\"/[\]?{}]+)?$/;
const MEDIA_TYPE = /^[A-Za-z0-9\-.!%*_+`'~]+\/[A-Za-z0-9\-.!%*_+`'~]+[ \t]*(;[^\r\n]*)?$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export const HeldMessageToDeliverSchema = z.object({
  id: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[\x21-\x7e]+$/, { message: 'must be printable ASCII' }),
  from: SipUriSchema,
  fromName: z.string().max(256).regex(NoLineBreak, { message: 'must be one line' }).optional(),
  to: SipUriSchema,
  contentType: z.string().max(256).regex(MEDIA_TYPE, { message: 'must be a media type such as text/plain' }),
  body: z.string().regex(BASE64, { message: 'must be base64' }),
  date: z.iso.datetime({ offset: true }),
  callId: z.string().max(256).regex(CALL_ID, { message: 'must be a SIP Call-ID' }),
  headers: z
    .array(
      z.object({
        name: z
          .string()
          .refine(isToken, { message: 'must be a header name' })
          .refine((name) => !RESERVED_HEADERS.has(expandCompact(name)), {
            message: 'is set by the edge and cannot be given',
          }),
        value: z.string().max(1024).regex(NoLineBreak, { message: 'must be one line' }),
      }),
    )
    .max(32)
    .optional(),
});
export type HeldMessageToDeliver = z.infer<typeof HeldMessageToDeliverSchema>;

export const DeliverRequestSchema = z.object({
  recipient: SipUriSchema,
  /** The contact learnt from REGISTER; not needed behind an outbound proxy. */
  target: SipUriSchema.optional(),
  messages: z.array(HeldMessageToDeliverSchema).min(1).max(100),
});
export type DeliverRequest = z.infer<typeof DeliverRequestSchema>;

export interface DeliveryOutcome {
  id: string;
  status: number;
  reason: string;
}

/** How a batch reaches the recipient: the proxy (Request-URI = the AOR) or the contact itself. */
export interface DeliveryRoute {
  requestUriOf: (message: HeldMessageToDeliver) => string;
  target: SipTarget;
}

export interface OutboundProxy {
  uri: string;
  target: SipTarget;
}

export class NoRouteError extends Error {
  override readonly name = 'NoRouteError';
}

/** Behind an outbound proxy everything goes to it; else to the registered contact. */
export function deliveryRoute(
  request: DeliverRequest,
  outboundProxy: OutboundProxy | undefined,
): DeliveryRoute {
  if (outboundProxy) return { requestUriOf: (message) => message.to, target: outboundProxy.target };
  const contact = request.target;
  if (contact === undefined) {
    throw new NoRouteError(
      'target is required: no OUTBOUND_PROXY is configured and the edge cannot look up contacts',
    );
  }
  let target: SipTarget;
  try {
    target = targetOfUri(contact);
  } catch (error) {
    if (error instanceof UnsupportedTargetError) throw new NoRouteError(`target ${error.message}`);
    throw error;
  }
  return { requestUriOf: () => contact, target };
}

export interface DeliveryMessageParts {
  requestUri: string;
  target: SipTarget;
  local: LocalSipAddress;
  branch: string;
  fromTag: string;
}

/**
 * The MESSAGE that delivers a held message: From = the original sender (with a new tag), To =
 * the recipient, the Call-ID the API derived from the message id, the original time in Date,
 * the original Content-Type and exact body bytes, the held message's extra headers, and
 * X-Holdover-Delivery so that a proxy does not route it back to Holdover.
 */
export function deliveryMessage(message: HeldMessageToDeliver, parts: DeliveryMessageParts): SipRequest {
  const headers: SipHeader[] = [
    { name: 'date', value: sipDate(new Date(message.date)) },
    ...(message.headers ?? []).map((header) => ({ name: expandCompact(header.name), value: header.value })),
    { name: DELIVERY_MARK, value: message.id },
    { name: 'content-type', value: message.contentType },
  ];
  return buildOutgoingRequest({
    method: 'MESSAGE',
    requestUri: parts.requestUri,
    target: parts.target,
    local: parts.local,
    branch: parts.branch,
    from: `${nameAddr(message.from, message.fromName)};tag=${parts.fromTag}`,
    to: nameAddr(message.to),
    callId: message.callId,
    cseq: 1,
    headers,
    body: Buffer.from(message.body, 'base64'),
  });
}

/**
 * RFC 3261 §18.1.1: a request larger than 1300 bytes (the path MTU being unknown) goes over TCP,
 * which has congestion control and no fragmentation — and a 64 KiB message fits no datagram.
 */
export const UDP_MAX_REQUEST_BYTES = 1300;

/** 408, 480 and 5xx end the batch: the user went away or their UA fails; the rest stays held. */
export function endsBatch(status: number): boolean {
  return status === 408 || status === 480 || (status >= 500 && status < 600);
}

export interface DeliveryOptions {
  local: LocalSipAddress;
  outboundProxy?: OutboundProxy;
  request: (request: SipRequest, target: SipTarget) => Promise<ClientOutcome>;
  now?: () => number;
}

export class Delivery {
  /** Batches for one recipient never interleave, even if the API sends two at once. */
  private readonly running = new Map<string, Promise<unknown>>();
  private readonly now: () => number;

  constructor(private readonly options: DeliveryOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Sends the batch one message after another; throws NoRouteError before sending anything.
   * `onOutcome` hears each final response as it arrives (the HTTP side streams them).
   */
  deliver(
    request: DeliverRequest,
    onOutcome?: (outcome: DeliveryOutcome) => void,
  ): Promise<DeliveryOutcome[]> {
    const route = deliveryRoute(request, this.options.outboundProxy);
    const previous = this.running.get(request.recipient) ?? Promise.resolve();
    const batch = previous.then(() => this.send(request, route, onOutcome));
    const settled = batch.catch(() => {});
    this.running.set(request.recipient, settled);
    void settled.then(() => {
      if (this.running.get(request.recipient) === settled) this.running.delete(request.recipient);
    });
    return batch;
  }

  private async send(
    request: DeliverRequest,
    route: DeliveryRoute,
    onOutcome?: (outcome: DeliveryOutcome) => void,
  ): Promise<DeliveryOutcome[]> {
    const outcomes: DeliveryOutcome[] = [];
    for (const message of request.messages) {
      const started = this.now();
      const outcome = await this.sendOne(message, route);
      const reported = { id: message.id, status: outcome.status, reason: outcome.reason };
      outcomes.push(reported);
      onOutcome?.(reported);
      // Correlation only: bodies are personal data and never logged (STYLE.md §7).
      logger.info('delivery outcome', {
        id: message.id,
        callId: message.callId,
        status: outcome.status,
        ms: this.now() - started,
      });
      if (endsBatch(outcome.status)) break;
    }
    return outcomes;
  }

  private async sendOne(message: HeldMessageToDeliver, route: DeliveryRoute): Promise<ClientOutcome> {
    const fromTag = newTag();
    const attempt = (target: SipTarget) =>
      this.options.request(
        deliveryMessage(message, {
          requestUri: route.requestUriOf(message),
          target,
          local: this.options.local,
          branch: newBranch(),
          fromTag,
        }),
        target,
      );
    if (route.target.transport === 'udp') {
      const size = serializeRequest(
        deliveryMessage(message, {
          requestUri: route.requestUriOf(message),
          target: route.target,
          local: this.options.local,
          branch: newBranch(),
          fromTag,
        }),
      ).length;
      if (size > UDP_MAX_REQUEST_BYTES) {
        const outcome = await attempt({ ...route.target, transport: 'tcp' });
        // A UA that does not listen on TCP gets the datagram after all (§18.1.1 allows it).
        if (!outcome.transportFailure) return outcome;
      }
    }
    return attempt(route.target);
  }
}
