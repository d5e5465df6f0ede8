// Scheduled (EventBridge every minute; HOLDOVER_SWEEP_INTERVAL locally): claims messages whose
// time ran out, and those of users on vacation, and queues one email job per recipient.

import type { Context } from 'aws-lambda';
import { requireEnv } from '../shared/env.ts';
import { sweepIntervalMs } from '../shared/settings.ts';
import { EXPIRY_SHARDS } from '../shared/table.ts';
import { EXPIRED_QUEUE, localJobs } from './adapters/local-jobs.ts';
import { count, logger, measure, metrics, startInvocation } from './adapters/observability.ts';
import { sqs } from './adapters/sqs-client.ts';
import { SqsExpiredQueue } from './adapters/sqs-queue.ts';
import { store } from './adapters/store.ts';
import { type ExpiryJob, sweepDue } from './core/expiry.ts';

const deps = {
  store,
  queue: localJobs
    ? localJobs.queue<ExpiryJob>(EXPIRED_QUEUE)
    : new SqsExpiredQueue(sqs, requireEnv('HOLDOVER_EXPIRED_QUEUE_URL')),
  now: Date.now,
  shards: EXPIRY_SHARDS,
  claimTimeoutMs: 30 * 60_000,
  jobSize: 200,
  intervalMs: sweepIntervalMs(),
};

export async function handler(
  _event?: unknown,
  context?: Context,
): Promise<{ claimed: number; recipients: number }> {
  startInvocation(context);
  const result = await sweepDue(deps);
  if (result.claimed > 0) {
    count('expired', result.claimed);
    logger.info('sweep claimed messages for email', { ...result });
  }
  count('sweepIndexReads', result.indexEntriesRead);
  measure('overdueSeconds', result.overdueSeconds);
  metrics.publishStoredMetrics();
  return { claimed: result.claimed, recipients: result.recipients };
}
