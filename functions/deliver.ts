// SQS consumer of the delivery queue: a recipient's backlog (deliverBacklog) or one notice
// (bounce, IMDN, auto-reply: sendNotice, which settles a bounced message by its outcome).
// Reports partial batch failures; a job that must wait (the UA answered 408/480/5xx) is retried
// later with backoff.
import { monotonicFactory } from 'ulid';
import { HttpEdge } from './adapters/edge-client.ts';
import { envInt, envOr, requireEnv } from './adapters/env.ts';
import { logger, MetricUnit, metrics } from './adapters/observability.ts';
import { deliveryQueue } from './adapters/queue.ts';
import { signingSecret } from './adapters/secret.ts';
import { RetryLater, sqsConsumer } from './adapters/sqs-batch.ts';
import { store } from './adapters/store.ts';
import { type DeliveryEvent, deliverBacklog, RetryLaterError } from './core/delivery.ts';
import { type DeliveryJob, DeliveryJobSchema } from './core/jobs.ts';
import { sendNotice } from './core/notice-delivery.ts';

const queueUrl = requireEnv('HOLDOVER_DELIVERY_QUEUE_URL');
const edge = new HttpEdge(requireEnv('HOLDOVER_EDGE_URL'), signingSecret);
const viaProxy = envOr('OUTBOUND_PROXY', '') !== '';
const ulid = monotonicFactory();
/** The delivery lease; renewed every third of it while the edge sends a batch. */
const LEASE_MS = 120_000;
/**
 * Runs retried after the UA did not take a message (408/480) before waiting for the user's next
 * REGISTER or PUBLISH, which starts a run while messages wait (or for expiry and email).
 */
const UNREACHABLE_RETRIES = 3;

const deps = {
  users: store,
  store,
  queue: deliveryQueue,
  edge,
  now: Date.now,
  newId: () => ulid(),
  viaProxy,
  batchSize: envInt('HOLDOVER_DELIVERY_BATCH', 100),
  leaseMs: LEASE_MS,
  observe: (event: DeliveryEvent) => {
    const context = { messageId: event.message.id, callId: event.message.callId };
    if (event.kind === 'delivered') {
      metrics.addMetric('delivered', MetricUnit.Count, 1);
      metrics.addMetric('deliveryLatency', MetricUnit.Milliseconds, event.latencyMs);
      logger.info('message delivered', context);
    } else if (event.kind === 'bounced') {
      metrics.addMetric('bounced', MetricUnit.Count, 1);
      logger.info('message bounced to its sender', { ...context, status: event.status });
    } else {
      logger.info('message kept for later', { ...context, status: event.status });
    }
  },
};

async function run(job: DeliveryJob, receiveCount: number): Promise<void> {
  if (job.kind === 'deliver') {
    let result: Awaited<ReturnType<typeof deliverBacklog>>;
    try {
      result = await deliverBacklog(job.recipient, deps);
    } catch (error) {
      if (error instanceof RetryLaterError) throw new RetryLater(error.message);
      throw error;
    }
    // Another worker holds the recipient and looks again after it releases the lease; this job
    // comes back only once that lease would have run out (its worker may have crashed).
    if (result.outcome === 'busy') {
      await deliveryQueue.enqueue(job, LEASE_MS / 1000);
      logger.info('recipient busy with another worker', { recipient: job.recipient });
      return;
    }
    if (result.outcome === 'unreachable' && receiveCount <= UNREACHABLE_RETRIES) {
      throw new RetryLater(`recipient UA answered ${result.status}; trying again later`);
    }
    logger.info('delivery run ended', { recipient: job.recipient, ...result });
    return;
  }
  let result: Awaited<ReturnType<typeof sendNotice>>;
  try {
    result = await sendNotice(job, receiveCount, { edge, bounces: store, viaProxy });
  } catch (error) {
    if (error instanceof RetryLaterError) throw new RetryLater(error.message);
    throw error;
  }
  const context = { reason: job.reason, callId: job.message.callId, status: result.status };
  const settled = result.settled ? { bouncedMessage: job.settles?.id, settled: result.settled } : {};
  if (result.outcome === 'sent') {
    metrics.addMetric('noticeSent', MetricUnit.Count, 1);
    logger.info('notice sent', { ...context, ...settled });
  } else {
    metrics.addMetric('noticeRefused', MetricUnit.Count, 1);
    if (result.settled === 'dead') metrics.addMetric('deadLetters', MetricUnit.Count, 1);
    logger.warn('notice failed for good', { ...context, why: result.reason, ...settled });
  }
}

export const handler = sqsConsumer(queueUrl, DeliveryJobSchema, run);
