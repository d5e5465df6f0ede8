// Work items on the delivery queue: a recipient's backlog to deliver, or one notice (bounce,
// IMDN, auto-reply) to send. The same schema is used by the producers and by the consumer.
import * as z from 'zod';
import { MessageToDeliverSchema } from '../../shared/contract/delivery.ts';

export const DeliveryJobSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('deliver'), recipient: z.string().min(1) }),
  z.object({
    kind: z.literal('notice'),
    /** Why it is sent: shown in logs and metrics. */
    reason: z.enum(['bounce', 'imdn', 'offline-notice', 'auto-reply']),
    /** Where the addressee can be reached, if known (their Contact or the source of their MESSAGE). */
    target: z.string().optional(),
    message: MessageToDeliverSchema,
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
