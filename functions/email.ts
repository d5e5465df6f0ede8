// SQS consumer of the expired queue: one digest email per job (per recipient per sweep), sent
// with SES; the messages are deleted only after SES accepted it. SES failure or throttling →
// the job is retried with backoff, and after its retries it waits in the DLQ (with an alarm).

import { SESv2Client } from '@aws-sdk/client-sesv2';
import { ChangeMessageVisibilityCommand } from '@aws-sdk/client-sqs';
import type { SQSBatchItemFailure, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { monotonicFactory } from 'ulid';
import { sqs } from './adapters/clients.ts';
import { requireEnv } from './adapters/env.ts';
import { describeIssues } from './adapters/http.ts';
import { logger, MetricUnit, metrics } from './adapters/observability.ts';
import { deliveryQueue } from './adapters/queue.ts';
import { SesMailer } from './adapters/ses-mailer.ts';
import { store } from './adapters/store.ts';
import { ExpiryJobSchema, emailExpired } from './core/expiry.ts';

const queueUrl = requireEnv('HOLDOVER_EXPIRED_QUEUE_URL');
const ulid = monotonicFactory();
const deps = {
  users: store,
  store,
  // A bounded wait: a mail service that hangs must fail the job (it retries), not block it.
  mailer: new SesMailer(
    new SESv2Client({ requestHandler: { requestTimeout: 10_000, connectionTimeout: 3_000 } }),
    requireEnv('HOLDOVER_MAIL_FROM'),
  ),
  notices: deliveryQueue,
  now: Date.now,
  newId: () => ulid(),
};

async function processRecord(record: SQSRecord): Promise<void> {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    throw new Error('job is not JSON');
  }
  const parsed = ExpiryJobSchema.safeParse(body);
  if (!parsed.success) throw new Error(`invalid job: ${describeIssues(parsed.error)}`);
  const result = await emailExpired(parsed.data, deps);
  if (result.outcome === 'emailed') metrics.addMetric('emailed', MetricUnit.Count, result.count);
  if (result.outcome === 'bounced') metrics.addMetric('bouncedOnExpiry', MetricUnit.Count, result.count);
  if (result.outcome === 'dropped') metrics.addMetric('droppedOnExpiry', MetricUnit.Count, result.count);
  logger.info('expired messages handled', {
    recipient: parsed.data.recipient,
    reason: parsed.data.reason,
    ...result,
  });
}

export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const batchItemFailures: SQSBatchItemFailure[] = [];
  await Promise.all(
    event.Records.map(async (record) => {
      try {
        await processRecord(record);
      } catch (error) {
        batchItemFailures.push({ itemIdentifier: record.messageId });
        const receiveCount = Number(record.attributes.ApproximateReceiveCount ?? '1');
        const delaySeconds = Math.min(300, 5 * 2 ** Math.max(0, receiveCount - 1));
        logger.warn('email job failed; retrying later', {
          sqsMessageId: record.messageId,
          receiveCount,
          delaySeconds,
          error: error instanceof Error ? error.message : String(error),
        });
        await sqs
          .send(
            new ChangeMessageVisibilityCommand({
              QueueUrl: queueUrl,
              ReceiptHandle: record.receiptHandle,
              VisibilityTimeout: delaySeconds,
            }),
          )
          .catch(() => undefined);
      }
    }),
  );
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  return { batchItemFailures };
}
