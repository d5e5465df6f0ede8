// SQS consumer of the delivery queue: a recipient's backlog (deliverBacklog) or one notice
// (bounce, IMDN, auto-reply: sendNotice, which settles a bounced message by its outcome).
// Reports partial batch failures; a job that must wait (the UA answered 408/480/5xx) is retried
// later with backoff.

import { monotonicFactory } from 'ulid';
import { envOr, requireEnv } from '../shared/env.ts';
import { deliveryBatchSize } from '../shared/settings.ts';
import { HttpEdge } from './adapters/edge-client.ts';
import { count, logger, measure } from './adapters/observability.ts';
import { deliveryQueue } from './adapters/queue.ts';
import { signingSecret } from './adapters/secret.ts';
import { sqsConsumer } from './adapters/sqs-batch.ts';
import { alertStore, chatStore, groupStore, store } from './adapters/store.ts';
import type { DeliveryEvent } from './core/delivery.ts';
import { runDeliveryJob } from './core/delivery-jobs.ts';
import { type DeliveryJob, DeliveryJobSchema } from './core/jobs.ts';

const queueUrl = requireEnv('HOLDOVER_DELIVERY_QUEUE_URL');
const edge = new HttpEdge(requireEnv('HOLDOVER_EDGE_URL'), signingSecret);
const viaProxy = envOr('OUTBOUND_PROXY', '') !== '';
const ulid = monotonicFactory();
/** The delivery lease; renewed every third of it while the edge sends a batch. */
const LEASE_MS = 120_000;

const deps = {
  users: store,
  groups: groupStore,
  chats: chatStore,
  store,
  queue: deliveryQueue,
  edge,
  now: Date.now,
  newId: () => ulid(),
  viaProxy,
  batchSize: deliveryBatchSize(),
  leaseMs: LEASE_MS,
  alerts: alertStore,
  observe: (event: DeliveryEvent) => {
    const context = { messageId: event.message.id, callId: event.message.callId };
    if (event.kind === 'delivered') {
      count('delivered');
      measure('deliveryLatency', event.latencyMs);
      logger.info('message delivered', context);
    } else if (event.kind === 'bounced') {
      count('bounced');
      logger.info('message bounced to its sender', { ...context, status: event.status });
    } else {
      logger.info('message kept for later', { ...context, status: event.status });
    }
  },
};

async function run(job: DeliveryJob, receiveCount: number): Promise<void> {
  const result = await runDeliveryJob(job, receiveCount, deps);
  if (job.kind === 'deliver') {
    if (result.kind === 'run') logger.info('delivery run ended', { recipient: job.recipient, ...result.run });
    return;
  }
  if (result.kind !== 'notice') return;
  const { notice } = result;
  const context = { reason: job.reason, callId: job.message.callId, status: notice.status };
  const settled = notice.settled ? { bouncedMessage: job.settles?.id, settled: notice.settled } : {};
  if (notice.outcome === 'sent') {
    count('noticeSent');
    logger.info('notice sent', { ...context, ...settled });
  } else {
    count('noticeRefused');
    if (notice.settled === 'dead') count('deadLetters');
    logger.warn('notice failed for good', { ...context, why: notice.reason, ...settled });
  }
}

export const handler = sqsConsumer(queueUrl, DeliveryJobSchema, run);
