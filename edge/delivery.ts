// Delivery of held messages (docs/design.md "Message lifecycle"): the delivery function hands the edge one
// recipient's messages in a signed `POST /deliver`; the edge sends each as a MESSAGE from the
// original sender, strictly one after another (RFC 3428 §8: the next only after the final
// response to the previous), and returns each outcome. 408, 480 and 5xx stop the batch (the
// user went away or their UA is failing: the rest stays held); other failures are permanent
// for that message only. Each message is checked on its own: one the edge cannot build gets its
// own outcome (UNSENDABLE_STATUS) and the batch goes on, so it never blocks the messages behind it
// (docs/design.md "Message lifecycle").

import { z } from 'zod';
import {
  AddressSchema,
  classifyFinal,
  type DeliverRequest,
  type DeliveryOutcome,
  isSipUri,
  MessageIdSchema,
  MessageToDeliverSchema,
} from '../shared/contract/delivery.ts';
import { isToken } from '../shared/sip/grammar.ts';
import type { SipTarget } from '../shared/sip/uri.ts';
import { parseUri, targetOfUri, UnsupportedTargetError } from '../shared/sip/uri.ts';
import type { BuildRequest, ClientOutcome } from './client-transactions.ts';
import { logger, metrics } from './log.ts';
import { buildOutgoingRequest, type LocalSipAddress, nameAddr, sipDate } from './outgoing-request.ts';
import { expandCompact, type SipHeader, type SipRequest } from './sip/message.ts';
import { newTag } from './sip/serialize.ts';

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

const NoLineBreak = /^[^\r\n\0]*$/;
// RFC 3261 §25.1 Call-ID: word [ "@" word ]
const CALL_ID = /^[A-Za-z0-9\-.!%*_+`'~()<>:\\"/[\]?{}]+(?:@[A-Za-z0-9\-.!%*_+`'~()<>:\\"/[\]?{}]+)?$/;
const MEDIA_TYPE = /^[A-Za-z0-9\-.!%*_+`'~]+\/[A-Za-z0-9\-.!%*_+`'~]+[ \t]*(;[^\r\n]*)?$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * A message to deliver as the edge can send it: the contract's fields, each held to what may go on
 * the wire (SIP grammar, no line breaks, none of the headers the edge writes itself).
 */
export const SendableMessageSchema = z.object({
  ...MessageToDeliverSchema.shape,
  id: MessageIdSchema,
  from: AddressSchema,
  fromName: z.string().max(256).regex(NoLineBreak, { message: 'must be one line' }).optional(),
  to: AddressSchema,
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
export type SendableMessage = z.infer<typeof SendableMessageSchema>;

/**
 * The status reported for a message the edge cannot build or send (a field it cannot use): a
 * global, permanent failure (RFC 3261 §21.6.4 606 Not Acceptable) that the delivery function
 * bounces to its sender, while the batch goes on with the next message.
 */
export const UNSENDABLE_STATUS = 606;

export class UnsendableError extends Error {
  override readonly name = 'UnsendableError';
}

/** A held message as the edge can send it, or why it cannot. */
export function checkMessage(candidate: unknown): SendableMessage {
  const result = SendableMessageSchema.safeParse(candidate);
  if (result.success) return result.data;
  throw new UnsendableError(
    result.error.issues
      .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'message'}: ${issue.message}`)
      .join('; '),
  );
}

/**
 * The address a delivered MESSAGE carries for a party. sip/sips as they are. tel as the SIP URI
 * RFC 3261 §19.1.6 defines for it, in `domain` (the served domain of the other party), so that the
 * recipient's UA can answer through its proxy: `tel:+15551234` → `sip:+15551234@example.com;user=phone`.
 * im/pres (RFC 3860/3859, from CPIM) name the same user@host: `im:alice@example.com` →
 * `sip:alice@example.com`. Any other absolute URI stays as it is (RFC 3261 allows it in From/To).
 */
export function sipAddressOf(uri: string, domain: string): string {
  const parsed = parseUri(uri);
  if (parsed.scheme === 'sip' || parsed.scheme === 'sips') return uri;
  const rest = uri.slice(uri.indexOf(':') + 1);
  let candidate: string | undefined;
  if (parsed.scheme === 'tel') candidate = `sip:${rest}@${domain};user=phone`;
  if (parsed.scheme === 'im' || parsed.scheme === 'pres') {
    const address = rest.split(/[?;]/)[0] ?? '';
    if (/^[^@]+@[^@]+$/.test(address)) candidate = `sip:${address}`;
  }
  return candidate !== undefined && isSipUri(candidate) ? candidate : uri;
}

function hostOf(uri: string): string | undefined {
  try {
    const parsed = parseUri(uri);
    return parsed.scheme === 'sip' || parsed.scheme === 'sips' ? parsed.host : undefined;
  } catch {
    return undefined;
  }
}

/** How a batch reaches the recipient: the proxy (Request-URI = the AOR) or the contact itself. */
export interface DeliveryRoute {
  requestUriOf: (message: SendableMessage) => string;
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
export function deliveryMessage(message: SendableMessage, parts: DeliveryMessageParts): SipRequest {
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

/** 408, 480 and 5xx end the batch: the user went away or their UA fails; the rest stays held. */
export function endsBatch(status: number): boolean {
  const final = classifyFinal(status);
  return final === 'away' || final === 'retry';
}

export interface DeliveryOptions {
  local: LocalSipAddress;
  /** The served domain a tel: party is put in when the other party has no SIP host (HOLDOVER_DOMAINS[0]). */
  domain?: string;
  outboundProxy?: OutboundProxy;
  /** Sends a request in a client transaction of its own (ClientTransactions.originate). */
  originate: (build: BuildRequest, target: SipTarget) => Promise<ClientOutcome>;
  now?: () => number;
}

export class Delivery {
  /**
   * Batches for one recipient never interleave, even if the API sends two at once: each waits for
   * the one before it, and whether that one stopped (408, 480, 5xx, or it failed).
   */
  private readonly running = new Map<string, Promise<{ stopped: boolean }>>();
  private readonly now: () => number;

  constructor(private readonly options: DeliveryOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Sends the batch one message after another; throws NoRouteError before sending anything.
   * `onOutcome` hears each final response as it arrives (the HTTP side streams them). The API
   * hands over the next batch while one is being sent, so the next MESSAGE goes out as soon as
   * the previous one's final answer arrives; a batch queued behind one that stopped is not sent
   * at all (no outcomes: it stays held), as the rest of that batch was not.
   */
  deliver(
    request: DeliverRequest,
    onOutcome?: (outcome: DeliveryOutcome) => void,
  ): Promise<DeliveryOutcome[]> {
    const route = deliveryRoute(request, this.options.outboundProxy);
    const previous = this.running.get(request.recipient) ?? Promise.resolve({ stopped: false });
    const batch = previous.then(({ stopped }) => (stopped ? [] : this.send(request, route, onOutcome)));
    const settled = batch.then(
      (outcomes) => ({ stopped: endsBatch(outcomes.at(-1)?.status ?? 0) }),
      () => ({ stopped: true }),
    );
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
    for (const candidate of request.messages) {
      const started = this.now();
      const outcome = await this.sendOne(candidate, route);
      const reported = { id: candidate.id, status: outcome.status, reason: outcome.reason };
      outcomes.push(reported);
      onOutcome?.(reported);
      // Correlation only: bodies are personal data and never logged (STYLE.md §7).
      logger.info('delivery outcome', {
        id: candidate.id,
        callId: typeof candidate.callId === 'string' ? candidate.callId : undefined,
        status: outcome.status,
        ms: this.now() - started,
      });
      metrics.delivery(outcome.status, this.now() - started);
      if (endsBatch(outcome.status)) break;
    }
    return outcomes;
  }

  /** One message: checked and built on its own; one the edge cannot build is answered UNSENDABLE_STATUS. */
  private async sendOne(
    candidate: DeliverRequest['messages'][number],
    route: DeliveryRoute,
  ): Promise<Pick<ClientOutcome, 'status' | 'reason'>> {
    try {
      const message = this.addressed(checkMessage(candidate));
      const fromTag = newTag();
      const requestUri = route.requestUriOf(message);
      // The transaction gives it its branch and transport and serialises it once; a message that
      // cannot be built fails there, before anything is sent.
      return await this.options.originate(
        (via) => deliveryMessage(message, { requestUri, fromTag, ...via }),
        route.target,
      );
    } catch (error) {
      const reason = `Not Acceptable: the edge cannot send this message (${
        error instanceof Error ? error.message : String(error)
      })`;
      logger.warn('delivery: message cannot be sent; reported on its own', { id: candidate.id, reason });
      return { status: UNSENDABLE_STATUS, reason: reason.slice(0, 500) };
    }
  }

  /** From and To as a UA can use them (sipAddressOf), each in the other party's domain. */
  private addressed(message: SendableMessage): SendableMessage {
    const fallback = this.options.domain ?? this.options.local.host;
    return {
      ...message,
      from: sipAddressOf(message.from, hostOf(message.to) ?? fallback),
      to: sipAddressOf(message.to, hostOf(message.from) ?? fallback),
    };
  }
}
