// The delivery wire: the delivery function hands the edge one recipient's messages in a signed
// `POST {edge}/deliver`; the edge sends them one after another and streams each one's outcome as a
// JSON line the moment its final response arrives, then `{"done":true}` (docs/design.md).

import { parseUri } from '../sip/uri.ts';
import * as z from '../zod.ts';

export function isSipUri(text: string): boolean {
  try {
    const scheme = parseUri(text).scheme;
    return scheme === 'sip' || scheme === 'sips';
  } catch {
    return false;
  }
}

function isUri(text: string): boolean {
  try {
    parseUri(text);
    return true;
  } catch {
    return false;
  }
}

export const SipUriSchema = z
  .string()
  .check(z.minLength(1), z.maxLength(2048), z.refine(isSipUri, { message: 'must be a SIP URI' }));
/**
 * A sender's or recipient's address: any URI a party may have (RFC 3261 §20.20 and §25.1 allow an
 * absoluteURI in From and To): sip, sips, tel, im/pres (from CPIM), or another scheme.
 */
export const AddressSchema = z
  .string()
  .check(
    z.minLength(1),
    z.maxLength(2048),
    z.refine(isUri, { message: 'must be a URI such as sip:alice@example.com or tel:+15551234' }),
  );
export const MessageIdSchema = z
  .string()
  .check(z.minLength(1), z.maxLength(200), z.regex(/^[\x21-\x7e]+$/, { message: 'must be printable ASCII' }));
/**
 * A held message (or a notice: bounce, IMDN, auto-reply) as the API hands it to the edge. The edge
 * checks each one again, stricter, when its turn comes (edge/delivery.ts `checkMessage`).
 */
export const MessageToDeliverSchema = z.object({
  id: z.string().check(z.minLength(1)),
  from: z.string().check(z.minLength(1)),
  fromName: z.optional(z.string()),
  to: z.string().check(z.minLength(1)),
  contentType: z.string().check(z.minLength(1)),
  /** Base64 of the body bytes. */
  body: z.string(),
  date: z.string(),
  callId: z.string().check(z.minLength(1)),
  headers: z.optional(z.array(z.object({ name: z.string().check(z.minLength(1)), value: z.string() }))),
});
export type MessageToDeliver = z.infer<typeof MessageToDeliverSchema>;

/** What the delivery function sends: one recipient's messages, oldest first. */
export interface DeliveryBatch {
  recipient: string;
  /** The contact learnt from REGISTER; not needed behind an outbound proxy. */
  target?: string;
  messages: MessageToDeliver[];
}

/**
 * The batch as a whole: only what the edge needs to answer each message (its id) is checked here;
 * the rest of a message is checked on its own when its turn comes (`checkMessage`).
 */
export const DeliverRequestSchema = z.object({
  recipient: AddressSchema,
  /** The contact learnt from REGISTER; not needed behind an outbound proxy. */
  target: z.optional(SipUriSchema),
  messages: z.array(z.looseObject({ id: MessageIdSchema })).check(z.minLength(1), z.maxLength(100)),
});
export type DeliverRequest = z.infer<typeof DeliverRequestSchema>;

/** One message's final SIP status (or the edge's UNSENDABLE_STATUS for one it could not build). */
export const DeliveryOutcomeSchema = z.object({
  id: z.string(),
  status: z.int(),
  reason: z.string(),
});
export type DeliveryOutcome = z.infer<typeof DeliveryOutcomeSchema>;

/** The stream's last line: every message of the batch has its outcome line. */
export const DELIVERY_DONE = { done: true } as const;

/** One line of the `/deliver` answer. */
export const DeliveryLineSchema = z.union([DeliveryOutcomeSchema, z.object({ done: z.literal(true) })]);
export type DeliveryLine = z.infer<typeof DeliveryLineSchema>;

/**
 * What a final SIP status to a delivered MESSAGE means, the one rule the edge and the functions
 * apply (docs/design.md "Message lifecycle"): 2xx delivered; 408/480 the user went away (the run
 * stops, the rest stays held, the job comes back later); 5xx the UA fails (the same, retried);
 * anything else refuses this message for good (it bounces to its sender).
 */
export type FinalVerdict = 'delivered' | 'away' | 'retry' | 'bounce';

export function classifyFinal(status: number): FinalVerdict {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 408 || status === 480) return 'away';
  if (status >= 500 && status < 600) return 'retry';
  return 'bounce';
}
