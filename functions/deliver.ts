// SQS consumer of the delivery queue: a recipient's backlog (deliverBacklog) or one notice
// (bounce, IMDN, auto-reply). Reports partial batch failures; a job that must wait (another
// worker holds the recipient, or the UA answered 5xx) is retried later with backoff.
import { ChangeMessageVisibilityCommand } from '@aws-sdk/client-sqs';
import type { SQSBatchItemFailure, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { monotonicFactory } from 'ulid';
import { sqs } from './adapters/clients.ts';
import { HttpEdge } from './adapters/edge-client.ts';
import { envInt, envOr, requireEnv } from './adapters/env.ts';
import { describeIssues } from './adapters/http.ts';
import { logger, MetricUnit, metrics } from './adapters/observability.ts';
import { deliveryQueue } from './adapters/queue.ts';
import { signingSecret } from './adapters/secret.ts';
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

/** Waits before the job is seen again: a busy recipient shortly, a failing UA with backoff. */
class WaitError extends Error {
  constructor(
    message: string,
    readonly delaySeconds: number,
  ) {
    super(message);
  }
}

async function run(job: DeliveryJob, receiveCount: number): Promise<void> {
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
      if (error instanceof RetryLaterError) throw new WaitError(error.message, backoffSeconds(receiveCount));
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
    throw new WaitError(`notice answered ${status}`, backoffSeconds(receiveCount));
  }
  // A notice refused for good is not answered with another notice (no loops).
  metrics.addMetric(status < 300 ? 'noticeSent' : 'noticeRefused', MetricUnit.Count, 1);
  logger.info('notice sent', { reason: job.reason, callId: job.message.callId, status });
}

function backoffSeconds(receiveCount: number): number {
  return Math.min(300, 5 * 2 ** Math.max(0, receiveCount - 1));
}

async function processRecord(record: SQSRecord): Promise<void> {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    throw new Error('job is not JSON');
  }
  const parsed = DeliveryJobSchema.safeParse(body);
  // An invalid job can never succeed: failing it sends it to the DLQ (with its alarm) for a look.
  if (!parsed.success) throw new Error(`invalid job: ${describeIssues(parsed.error)}`);
  await run(parsed.data, Number(record.attributes.ApproximateReceiveCount ?? '1'));
}

export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const batchItemFailures: SQSBatchItemFailure[] = [];
  await Promise.all(
    event.Records.map(async (record) => {
      try {
        await processRecord(record);
      } catch (error) {
        batchItemFailures.push({ itemIdentifier: record.messageId });
        if (error instanceof WaitError) {
          logger.info('job postponed', {
            sqsMessageId: record.messageId,
            reason: error.message,
            seconds: error.delaySeconds,
          });
          await sqs
            .send(
              new ChangeMessageVisibilityCommand({
                QueueUrl: queueUrl,
                ReceiptHandle: record.receiptHandle,
                VisibilityTimeout: error.delaySeconds,
              }),
            )
            .catch((visibilityError: unknown) =>
              logger.warn('could not set the retry delay', { error: String(visibilityError) }),
            );
        } else {
          logger.error('job failed', {
            sqsMessageId: record.messageId,
            error: error instanceof Error ? error : String(error),
          });
        }
      }
    }),
  );
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  return { batchItemFailures };
}
