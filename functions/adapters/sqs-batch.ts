// The SQS consumer contract shared by the queue-triggered functions (Powertools batch habit):
// each record's JSON body is parsed with the producer's zod schema, records run concurrently,
// failures are reported as partial batch failures, and a failed record comes back later with
// backoff (ChangeMessageVisibility) until the queue's redrive sends it to the DLQ.
import { ChangeMessageVisibilityCommand } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchItemFailure, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type * as z from '../../shared/zod.ts';
import { RetryLaterError } from '../core/retry.ts';
import { describeIssues } from './http.ts';
import { localJobs } from './local-jobs.ts';
import { logger, metrics, startInvocation } from './observability.ts';
import { sqs } from './sqs-client.ts';

export function backoffSeconds(receiveCount: number): number {
  return Math.min(300, 5 * 2 ** Math.max(0, receiveCount - 1));
}

/** When a failed job comes back: SQS's ChangeMessageVisibility, or the local queue's own. */
async function retryAfter(queueUrl: string, receiptHandle: string, seconds: number): Promise<void> {
  if (localJobs) {
    localJobs.changeVisibility(receiptHandle, seconds);
    return;
  }
  await sqs.send(
    new ChangeMessageVisibilityCommand({
      QueueUrl: queueUrl,
      ReceiptHandle: receiptHandle,
      VisibilityTimeout: seconds,
    }),
  );
}

export function sqsConsumer<Schema extends z.ZodMiniType>(
  queueUrl: string,
  schema: Schema,
  run: (job: z.infer<Schema>, receiveCount: number) => Promise<void>,
): (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse> {
  const processRecord = async (record: SQSRecord, receiveCount: number) => {
    let body: unknown;
    try {
      body = JSON.parse(record.body);
    } catch {
      throw new Error('job is not JSON');
    }
    const parsed = schema.safeParse(body);
    // An invalid job can never succeed: its retries end in the DLQ (with its alarm) for a look.
    if (!parsed.success) throw new Error(`invalid job: ${describeIssues(parsed.error)}`);
    await run(parsed.data, receiveCount);
  };

  return async (event, context) => {
    // Records run concurrently: their lines share the invocation's keys and name their sqsMessageId.
    startInvocation(context);
    const batchItemFailures: SQSBatchItemFailure[] = [];
    await Promise.all(
      event.Records.map(async (record) => {
        const receiveCount = Number(record.attributes.ApproximateReceiveCount ?? '1');
        try {
          await processRecord(record, receiveCount);
        } catch (error) {
          batchItemFailures.push({ itemIdentifier: record.messageId });
          const delaySeconds =
            (error instanceof RetryLaterError && error.delaySeconds) || backoffSeconds(receiveCount);
          const context = { sqsMessageId: record.messageId, receiveCount, delaySeconds };
          if (error instanceof RetryLaterError)
            logger.warn('job postponed', { ...context, reason: error.message });
          else
            logger.error('job failed', { ...context, error: error instanceof Error ? error : String(error) });
          await retryAfter(queueUrl, record.receiptHandle, delaySeconds).catch((visibilityError: unknown) =>
            logger.warn('could not set the retry delay', { error: String(visibilityError) }),
          );
        }
      }),
    );
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    return { batchItemFailures };
  };
}
