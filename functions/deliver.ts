// SQS consumer of the delivery queue: a recipient's backlog (deliverBacklog) or one notice
// (bounce, IMDN, auto-reply). Reports partial batch failures; a job that must wait (another
// worker holds the recipient, or the UA answered 5xx) is retried later with backoff.
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

const queueUrl = requireEnv('HOLDOVER_DELIVERY_QUEUE_URL');
const edge = new HttpEdge(requireEnv('HOLDOVER_EDGE_URL'), signingSecret);
const viaProxy = envOr('OUTBOUND_PROXY', '') !== '';
const ulid = monotonicFactory();

const deps = {
  users: store,
  store,
  queue: deliveryQueue,
  edge,
  now: Date.now,
  newId: () => ulid(),
  viaProxy,
  batchSize: envInt('HOLDOVER_DELIVERY_BATCH', 100),
  leaseMs: 120_000,
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

async function run(job: DeliveryJob): Promise<void> {
  if (job.kind === 'deliver') {
    try {
      const result = await deliverBacklog(job.recipient, deps);
      // The other worker may be finishing just as this job's message arrived: look again shortly,
      // as a fresh job, so waiting for a busy recipient never counts towards the DLQ.
      if (result.outcome === 'busy') {
        await deliveryQueue.enqueue(job, 2);
        logger.info('recipient busy with another worker; looking again in 2 s', { recipient: job.recipient });
        return;
      }
      logger.info('delivery run ended', { recipient: job.recipient, ...result });
    } catch (error) {
      if (error instanceof RetryLaterError) throw new RetryLater(error.message);
      throw error;
    }
    return;
  }
  if (job.target === undefined && !viaProxy) {
    logger.warn('notice dropped: no way to reach its addressee', { reason: job.reason, to: job.message.to });
    return;
  }
  const {
    outcomes: [outcome],
  } = await edge.deliver({
    recipient: job.message.to,
    ...(job.target ? { target: job.target } : {}),
    messages: [job.message],
  });
  const status = outcome?.status ?? 0;
  if (status === 408 || status >= 500 || status === 0) {
    throw new RetryLater(`notice answered ${status}`);
  }
  // A notice refused for good is not answered with another notice (no loops).
  metrics.addMetric(status < 300 ? 'noticeSent' : 'noticeRefused', MetricUnit.Count, 1);
  logger.info('notice sent', { reason: job.reason, callId: job.message.callId, status });
}

export const handler = sqsConsumer(queueUrl, DeliveryJobSchema, run);
