// Work items on the delivery queue: a recipient's backlog to deliver, or one notice (bounce,
// IMDN, auto-reply) to send. The same schema is used by the producers and by the consumer.

import { MessageToDeliverSchema } from '../../shared/contract/delivery.ts';
import * as z from '../../shared/zod.ts';

export const DeliveryJobSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('deliver'), recipient: z.string().check(z.minLength(1)) }),
  z.object({
    kind: z.literal('notice'),
    /** Why it is sent: shown in logs and metrics. */
    reason: z.enum(['bounce', 'imdn', 'offline-notice', 'auto-reply']),
    /** Where the addressee can be reached, if known (their Contact or the source of their MESSAGE). */
    target: z.optional(z.string()),
    message: MessageToDeliverSchema,
    /**
     * The bounced message this notice reports (reason bounce): its outcome settles it — deleted
     * once the sender's UA answered 2xx, a dead letter once the notice failed for good.
     */
    settles: z.optional(
      z.object({
        recipient: z.string().check(z.minLength(1)),
        receivedAt: z.string().check(z.minLength(1)),
        id: z.string().check(z.minLength(1)),
      }),
    ),
  }),
]);
export type DeliveryJob = z.infer<typeof DeliveryJobSchema>;
