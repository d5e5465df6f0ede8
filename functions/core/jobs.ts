// Work items on the delivery queue: a recipient's backlog to deliver, or one notice (bounce,
// IMDN, auto-reply) to send. The same schema is used by the producers and by the consumer.
import * as z from 'zod';

export const OutgoingMessageSchema = z.object({
  id: z.string().min(1),
  from: z.string().min(1),
  fromName: z.string().optional(),
  to: z.string().min(1),
  contentType: z.string().min(1),
  /** Base64 of the body bytes. */
  body: z.string(),
  date: z.string(),
  callId: z.string().min(1),
  headers: z.array(z.object({ name: z.string().min(1), value: z.string() })).optional(),
});
export type OutgoingMessage = z.infer<typeof OutgoingMessageSchema>;

export const DeliveryJobSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('deliver'), recipient: z.string().min(1) }),
  z.object({
    kind: z.literal('notice'),
    /** Why it is sent: shown in logs and metrics. */
    reason: z.enum(['bounce', 'imdn', 'offline-notice', 'auto-reply']),
    /** Where the addressee can be reached, if known (their Contact or the source of their MESSAGE). */
    target: z.string().optional(),
    message: OutgoingMessageSchema,
    /**
     * The bounced message this notice reports (reason bounce): its outcome settles it — deleted
     * once the sender's UA answered 2xx, a dead letter once the notice failed for good.
     */
    settles: z
      .object({ recipient: z.string().min(1), receivedAt: z.string().min(1), id: z.string().min(1) })
      .optional(),
  }),
]);
export type DeliveryJob = z.infer<typeof DeliveryJobSchema>;
