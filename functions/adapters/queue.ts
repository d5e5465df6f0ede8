// The delivery queue, wired once; only the functions that enqueue import it (and need its URL).
// SQS, or the SQLite file's own queue under `npm start` (local-jobs.ts).

import { requireEnv } from '../../shared/env.ts';
import type { DeliveryJob } from '../core/jobs.ts';
import type { DeliveryQueue } from '../core/ports.ts';
import { DELIVERY_QUEUE, localJobs } from './local-jobs.ts';
import { sqs } from './sqs-client.ts';
import { SqsDeliveryQueue } from './sqs-queue.ts';

export const deliveryQueue: DeliveryQueue = localJobs
  ? localJobs.queue<DeliveryJob>(DELIVERY_QUEUE)
  : new SqsDeliveryQueue(sqs, requireEnv('HOLDOVER_DELIVERY_QUEUE_URL'));
