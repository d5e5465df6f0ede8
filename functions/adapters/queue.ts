// The delivery queue, wired once; only the functions that enqueue import it (and need its URL).
import { sqs } from './clients.ts';
import { requireEnv } from './env.ts';
import { SqsDeliveryQueue } from './sqs-queue.ts';

export const deliveryQueue = new SqsDeliveryQueue(sqs, requireEnv('HOLDOVER_DELIVERY_QUEUE_URL'));
