// Use case: one job of the delivery queue (docs/design.md "Message lifecycle"): a
// recipient's backlog, or one notice. The retry policy of each outcome is declared here, once:
// the SQS consumer (functions/deliver.ts) only maps RetryLaterError to a retry with backoff.
import { type DeliveryDeps, type DeliveryRun, deliverBacklog } from './delivery.ts';
import type { DeliveryJob } from './jobs.ts';
import { type NoticeResult, sendNotice } from './notice-delivery.ts';
import { RetryLaterError } from './retry.ts';

/**
 * Runs retried after the UA did not take a message (408/480) before waiting for the user's next
 * REGISTER or PUBLISH, which starts a run while messages wait (or for expiry and email).
 */
export const UNREACHABLE_RETRIES = 3;

export type DeliveryJobResult = { kind: 'run'; run: DeliveryRun } | { kind: 'notice'; notice: NoticeResult };

/**
 * Runs `job`, its `receiveCount`-th attempt. Throws RetryLaterError when it should come back
 * later with backoff (5xx, the edge unreachable, 408/480 within UNREACHABLE_RETRIES, a notice's
 * transient failure within its attempts).
 */
export async function runDeliveryJob(
  job: DeliveryJob,
  receiveCount: number,
  deps: DeliveryDeps,
): Promise<DeliveryJobResult> {
  if (job.kind === 'notice') {
    return {
      kind: 'notice',
      notice: await sendNotice(job, receiveCount, {
        edge: deps.edge,
        bounces: deps.store,
        viaProxy: deps.viaProxy,
      }),
    };
  }
  const run = await deliverBacklog(job.recipient, deps);
  // Another worker holds the recipient and looks again after releasing its lease; this job comes
  // back only once that lease would have run out (its worker may have crashed).
  if (run.outcome === 'busy') await deps.queue.enqueue(job, Math.ceil(deps.leaseMs / 1000));
  if (run.outcome === 'unreachable' && receiveCount <= UNREACHABLE_RETRIES) {
    throw new RetryLaterError(`recipient UA answered ${run.status}; trying again later`);
  }
  return { kind: 'run', run };
}
