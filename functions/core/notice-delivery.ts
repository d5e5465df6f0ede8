// Use case: send one notice (bounce, IMDN, offline notice, auto-reply) through the edge and, for
// a bounce, settle the bounced message by the notice's outcome (docs/design.md "Message lifecycle"
// — notices): deleted once the sender's UA answered 2xx, a dead letter once the notice
// failed for good (refused, unreachable after its attempts, or no way to reach the sender).
// handler (functions/deliver.ts) → sendNotice → ports (Edge, BounceStore).

import { classifyFinal } from '../../shared/contract/delivery.ts';
import type { DeliveryJob } from './jobs.ts';
import type { BounceStore, Edge } from './ports.ts';
import { RetryLaterError } from './retry.ts';

/**
 * Attempts of one notice before it counts as failed for good: kept below the delivery queue's
 * maxReceiveCount (5 in AWS), so the notice is settled here and never silently ends in the DLQ.
 */
export const NOTICE_ATTEMPTS = 4;

export interface NoticeDeps {
  edge: Edge;
  bounces: BounceStore;
  /** Whether the edge routes through an outbound proxy, so no target is needed. */
  viaProxy: boolean;
  attempts?: number;
}

export type NoticeResult =
  | { outcome: 'sent'; status: number; settled?: 'removed' | 'dead' | 'absent' }
  | { outcome: 'failed'; status: number; reason: string; settled?: 'removed' | 'dead' | 'absent' };

type NoticeJob = Extract<DeliveryJob, { kind: 'notice' }>;

/**
 * Sends `job` (attempt number `attempt`, from 1). Throws RetryLaterError while a transient
 * failure (408/480/5xx, no answer, edge unreachable) still has attempts left.
 */
export async function sendNotice(job: NoticeJob, attempt: number, deps: NoticeDeps): Promise<NoticeResult> {
  if (job.target === undefined && !deps.viaProxy) {
    return failed(job, 0, 'no way to reach the sender (no Contact, and no OUTBOUND_PROXY)', deps);
  }
  let status = 0;
  let reason = 'no answer';
  try {
    const delivery = await deps.edge.deliver({
      recipient: job.message.to,
      ...(job.target ? { target: job.target } : {}),
      messages: [job.message],
    });
    const outcome = delivery.outcomes[0];
    if (outcome) ({ status, reason } = outcome);
  } catch (error) {
    reason = `edge unavailable: ${error instanceof Error ? error.message : String(error)}`;
  }
  if (status >= 200 && status < 300) {
    const settled = job.settles ? await deps.bounces.settleBounce(job.settles, { told: true }) : undefined;
    return { outcome: 'sent', status, ...(settled ? { settled } : {}) };
  }
  const final = classifyFinal(status);
  const transient = status === 0 || final === 'away' || final === 'retry';
  const attempts = deps.attempts ?? NOTICE_ATTEMPTS;
  if (transient && attempt < attempts) throw new RetryLaterError(`notice answered ${status} ${reason}`);
  // A notice refused for good is not answered with another notice (no loops).
  const last = status === 0 ? reason : `${status} ${reason}`;
  const why = transient
    ? `the notice to the sender failed ${attempts} times (last: ${last})`
    : `the sender's UA refused the notice (${last})`;
  return failed(job, status, why, deps);
}

async function failed(
  job: NoticeJob,
  status: number,
  reason: string,
  deps: NoticeDeps,
): Promise<NoticeResult> {
  const settled = job.settles ? await deps.bounces.settleBounce(job.settles, { failed: reason }) : undefined;
  return { outcome: 'failed', status, reason, ...(settled ? { settled } : {}) };
}
