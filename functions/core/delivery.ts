// Use case: deliver a recipient's held messages, oldest first, strictly in order, by one worker
// at a time (DESIGN.md "Delivery"). handler (functions/deliver.ts) → deliverBacklog → ports.
//
// Each message is marked `delivering` before it is sent, so a crash leaves it to be sent again
// by the next run with the same Call-ID (derived from its id), which lets the UA drop the copy.
import type { HeldMessage } from './held-message.ts';
import type { DeliveryJob } from './jobs.ts';
import { bounceOf, deliveryNotificationOf, deliveryOf, wantsPositiveDelivery } from './notices.ts';
import type { DeliveryQueue, DeliveryStore, Edge, EdgeDelivery, EdgeOutcome, UserStore } from './ports.ts';
import { effectivePresence, holdsMessages, markUnreachable } from './presence.ts';

export interface DeliveryDeps {
  users: UserStore;
  store: DeliveryStore;
  queue: DeliveryQueue;
  edge: Edge;
  now: () => number;
  newId: () => string;
  /** Whether the edge routes through an outbound proxy, so no registered contact is needed. */
  viaProxy: boolean;
  batchSize: number;
  leaseMs: number;
  /** Told about each message's outcome (metrics, logs). */
  observe?: (event: DeliveryEvent) => void;
}

export type DeliveryEvent =
  | { kind: 'delivered'; message: HeldMessage; latencyMs: number }
  | { kind: 'bounced'; message: HeldMessage; status: number }
  | { kind: 'kept'; message: HeldMessage; status: number };

export type DeliveryRun =
  | { outcome: 'done'; delivered: number }
  | { outcome: 'held'; delivered: number; state: string }
  | { outcome: 'unreachable'; delivered: number; status: number }
  | { outcome: 'busy' };

/** The UA failed in a way worth retrying later (5xx, or the edge could not be reached). */
export class RetryLaterError extends Error {
  override readonly name = 'RetryLaterError';
}

const USER_WENT_AWAY = new Set([408, 480]);

export async function deliverBacklog(recipient: string, deps: DeliveryDeps): Promise<DeliveryRun> {
  const owner = deps.newId();
  if (!(await deps.store.acquireLease(recipient, owner, deps.leaseMs))) return { outcome: 'busy' };
  let delivered = 0;
  let settling: Promise<number> = Promise.resolve(0);
  let next: Promise<Prepared> | undefined;
  try {
    let prepared = await prepare(recipient, undefined, owner, deps);
    for (;;) {
      if (prepared.kind === 'busy') return { outcome: 'busy' };
      if (prepared.kind === 'held')
        return { outcome: 'held', delivered: delivered + (await settling), state: prepared.state };
      if (prepared.kind === 'done') return { outcome: 'done', delivered: delivered + (await settling) };
      const { batch, presence } = prepared;
      // While the edge sends this batch, the next one is read and marked, and the previous one's
      // outcomes are written: the store's round trips overlap the SIP transactions.
      next = prepare(recipient, batch.at(-1), owner, deps);
      let delivery: EdgeDelivery;
      try {
        delivery = await deps.edge.deliver({
          recipient,
          ...(presence.contact ? { target: presence.contact } : {}),
          messages: batch.map(deliveryOf),
        });
      } catch (error) {
        delivered += await settling;
        settling = Promise.resolve(0);
        await deps.store.releaseToPending(batch);
        throw new RetryLaterError(
          `edge unavailable: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      // Outcomes the edge reported count even if it went away mid-batch: only the message in
      // flight at that moment is sent again (same Call-ID), not the whole batch.
      const verdict = judge(batch, delivery.outcomes, deps);
      delivered += await settling;
      settling = settle(verdict, deps);
      if (!delivery.complete) throw new RetryLaterError('the edge went away during a delivery batch');
      if (verdict.stop === 'away') {
        delivered += await settling;
        settling = Promise.resolve(0);
        await markAway(recipient, prepared.version, deps);
        return { outcome: 'unreachable', delivered, status: verdict.status };
      }
      if (verdict.stop === 'retry') throw new RetryLaterError(`recipient UA answered ${verdict.status}`);
      prepared = await next;
      next = undefined;
    }
  } finally {
    // Whatever ends the run: finish writing outcomes, hand back a batch marked but not sent.
    await settling.catch(() => 0);
    const unsent = await next?.catch(() => undefined);
    if (unsent?.kind === 'batch') await deps.store.releaseToPending(unsent.batch);
    await deps.store.releaseLease(recipient, owner);
  }
}

type Prepared =
  | { kind: 'batch'; batch: HeldMessage[]; presence: { contact?: string }; version: number }
  | { kind: 'held'; state: string }
  | { kind: 'done' }
  | { kind: 'busy' };

/** Renews the lease, checks the user is still available, and marks the next batch delivering. */
async function prepare(
  recipient: string,
  after: HeldMessage | undefined,
  owner: string,
  deps: DeliveryDeps,
): Promise<Prepared> {
  if (!(await deps.store.acquireLease(recipient, owner, deps.leaseMs))) return { kind: 'busy' };
  const user = await deps.users.getUser(recipient);
  const presence = effectivePresence(user.presence, deps.now());
  if (holdsMessages(presence.state, user.settings, deps.now()))
    return { kind: 'held', state: presence.state };
  if (presence.contact === undefined && !deps.viaProxy) return { kind: 'held', state: 'no contact' };
  let from = after;
  for (;;) {
    const candidates = await deps.store.deliverable(recipient, deps.batchSize, from);
    if (candidates.length === 0) return { kind: 'done' };
    const batch = await deps.store.markDelivering(candidates);
    if (batch.length > 0) return { kind: 'batch', batch, presence, version: user.presence?.version ?? 0 };
    from = candidates.at(-1); // all taken by expiry meanwhile: look further
  }
}

interface Verdict {
  done: HeldMessage[];
  kept: HeldMessage[];
  notices: DeliveryJob[];
  delivered: number;
  stop?: 'away' | 'retry';
  status: number;
}

/** What each outcome means for its message (pure); `settle` writes it. */
function judge(batch: HeldMessage[], outcomes: EdgeOutcome[], deps: DeliveryDeps): Verdict {
  const byId = new Map(outcomes.map((outcome) => [outcome.id, outcome]));
  const verdict: Verdict = { done: [], kept: [], notices: [], delivered: 0, status: 0 };
  for (const message of batch) {
    const outcome = byId.get(message.id);
    if (outcome === undefined || verdict.stop !== undefined) {
      verdict.kept.push(message); // not attempted: the edge stopped before it
      continue;
    }
    if (outcome.status >= 200 && outcome.status < 300) {
      verdict.done.push(message);
      verdict.delivered++;
      deps.observe?.({ kind: 'delivered', message, latencyMs: deps.now() - Date.parse(message.receivedAt) });
      if (wantsPositiveDelivery(message)) {
        verdict.notices.push({
          kind: 'notice',
          reason: 'imdn',
          ...(message.replyTo ? { target: message.replyTo } : {}),
          message: deliveryNotificationOf(message, deps.newId(), deps.now()),
        });
      }
    } else if (USER_WENT_AWAY.has(outcome.status) || (outcome.status >= 500 && outcome.status < 600)) {
      verdict.kept.push(message);
      verdict.stop = USER_WENT_AWAY.has(outcome.status) ? 'away' : 'retry';
      verdict.status = outcome.status;
      deps.observe?.({ kind: 'kept', message, status: outcome.status });
    } else {
      // A permanent refusal: the sender is told (durably queued), then the message is done.
      verdict.notices.push({
        kind: 'notice',
        reason: 'bounce',
        ...(message.replyTo ? { target: message.replyTo } : {}),
        message: bounceOf(message, outcome.status, outcome.reason, deps.newId(), deps.now()),
      });
      verdict.done.push(message);
      deps.observe?.({ kind: 'bounced', message, status: outcome.status });
    }
  }
  return verdict;
}

/** Writes a verdict: notices queued first, so a bounced message is only removed once its notice is safe. */
async function settle(verdict: Verdict, deps: DeliveryDeps): Promise<number> {
  for (const notice of verdict.notices) await deps.queue.enqueue(notice);
  await Promise.all([
    verdict.done.length > 0 ? deps.store.removeDelivered(verdict.done) : undefined,
    verdict.kept.length > 0 ? deps.store.releaseToPending(verdict.kept) : undefined,
  ]);
  return verdict.delivered;
}

/** 408/480: the UA is gone although registered; hold until the user shows up again. */
async function markAway(recipient: string, version: number, deps: DeliveryDeps): Promise<void> {
  const user = await deps.users.getUser(recipient);
  if ((user.presence?.version ?? 0) !== version) return; // a newer presence change wins
  await deps.users.putPresence(recipient, markUnreachable(user.presence, deps.now()), version);
}
