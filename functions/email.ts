// SQS consumer of the expired queue: one digest email per job (per recipient per sweep), sent
// with SES; the messages are deleted only after SES accepted it. SES failure or throttling →
// the job is retried with backoff, and after its retries it waits in the DLQ (with an alarm).

import { SESv2Client } from '@aws-sdk/client-sesv2';
import { monotonicFactory } from 'ulid';
import { requireEnv } from '../shared/env.ts';
import { count, logger } from './adapters/observability.ts';
import { deliveryQueue } from './adapters/queue.ts';
import { SesMailer } from './adapters/ses-mailer.ts';
import { sqsConsumer } from './adapters/sqs-batch.ts';
import { alertStore, chatStore, store } from './adapters/store.ts';
import { ExpiryJobSchema, emailExpired } from './core/expiry.ts';
import { RetryLaterError } from './core/retry.ts';

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
  chats: chatStore,
  now: Date.now,
  newId: () => ulid(),
  alerts: alertStore,
};

export const handler = sqsConsumer(queueUrl, ExpiryJobSchema, async (job) => {
  let result: Awaited<ReturnType<typeof emailExpired>>;
  try {
    result = await emailExpired(job, deps);
  } catch (error) {
    // SES down or throttling: the messages stay claimed and the job comes back with backoff.
    throw new RetryLaterError(`email not sent: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (result.outcome === 'emailed') count('emailed', result.count);
  if (result.outcome === 'bounced') count('bouncedOnExpiry', result.count);
  if (result.outcome === 'dropped') count('droppedOnExpiry', result.count);
  logger.info('expired messages handled', { recipient: job.recipient, reason: job.reason, ...result });
});
