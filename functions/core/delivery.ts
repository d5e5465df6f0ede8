// Use case: deliver a recipient's held messages, oldest first, strictly in order, by one worker
// at a time (DESIGN.md "Delivery"). handler (functions/deliver.ts) → deliverBacklog → ports.
//
// Each message is marked `delivering` before it is sent, so a crash leaves it to be sent again
// by the next run with the same Call-ID (derived from its id), which lets the UA drop the copy.
import type { HeldMessage } from './held-message.ts';
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
  try {
    for (;;) {
      const user = await deps.users.getUser(recipient);
      const presence = effectivePresence(user.presence, deps.now());
      if (holdsMessages(presence.state, user.settings, deps.now())) {
        return { outcome: 'held', delivered, state: presence.state };
      }
      if (presence.contact === undefined && !deps.viaProxy) {
        return { outcome: 'held', delivered, state: 'no contact' };
      }
      const candidates = await deps.store.deliverable(recipient, deps.batchSize);
      if (candidates.length === 0) return { outcome: 'done', delivered };
      const batch = await deps.store.markDelivering(candidates);
      if (batch.length === 0) continue; // all taken by expiry meanwhile

      let delivery: EdgeDelivery;
      try {
        delivery = await deps.edge.deliver({
          recipient,
          ...(presence.contact ? { target: presence.contact } : {}),
          messages: batch.map(deliveryOf),
        });
      } catch (error) {
        await deps.store.releaseToPending(batch);
        throw new RetryLaterError(
          `edge unavailable: ${error instanceof Error ? error.message : String(error)}`,
        );
      }

      // Outcomes the edge reported count even if it went away mid-batch: only the message in
      // flight at that moment is sent again (same Call-ID), not the whole batch.
      const settled = await settle(batch, delivery.outcomes, deps);
      delivered += settled.delivered;
      if (!delivery.complete) throw new RetryLaterError('the edge went away during a delivery batch');
      if (settled.stop === 'away') {
        await markAway(recipient, user.presence?.version ?? 0, deps);
        return { outcome: 'unreachable', delivered, status: settled.status };
      }
      if (settled.stop === 'retry') throw new RetryLaterError(`recipient UA answered ${settled.status}`);
      if (!(await deps.store.acquireLease(recipient, owner, deps.leaseMs))) return { outcome: 'busy' };
    }
  } finally {
    await deps.store.releaseLease(recipient, owner);
  }
}

interface Settled {
  delivered: number;
  stop?: 'away' | 'retry';
  status: number;
}

async function settle(batch: HeldMessage[], outcomes: EdgeOutcome[], deps: DeliveryDeps): Promise<Settled> {
  const byId = new Map(outcomes.map((outcome) => [outcome.id, outcome]));
  const done: HeldMessage[] = [];
  const kept: HeldMessage[] = [];
  let stop: Settled['stop'];
  let stopStatus = 0;
  for (const message of batch) {
    const outcome = byId.get(message.id);
    if (outcome === undefined || stop !== undefined) {
      kept.push(message); // not attempted: the edge stopped before it
      continue;
    }
    if (outcome.status >= 200 && outcome.status < 300) {
      done.push(message);
      deps.observe?.({ kind: 'delivered', message, latencyMs: deps.now() - Date.parse(message.receivedAt) });
      if (wantsPositiveDelivery(message)) {
        await deps.queue.enqueue({
          kind: 'notice',
          reason: 'imdn',
          ...(message.replyTo ? { target: message.replyTo } : {}),
          message: deliveryNotificationOf(message, deps.newId(), deps.now()),
        });
      }
    } else if (USER_WENT_AWAY.has(outcome.status) || (outcome.status >= 500 && outcome.status < 600)) {
      kept.push(message);
      stop = USER_WENT_AWAY.has(outcome.status) ? 'away' : 'retry';
      stopStatus = outcome.status;
      deps.observe?.({ kind: 'kept', message, status: outcome.status });
    } else {
      // A permanent refusal: tell the sender (durably queued), then the message is done.
      await deps.queue.enqueue({
        kind: 'notice',
        reason: 'bounce',
        ...(message.replyTo ? { target: message.replyTo } : {}),
        message: bounceOf(message, outcome.status, outcome.reason, deps.newId(), deps.now()),
      });
      done.push(message);
      deps.observe?.({ kind: 'bounced', message, status: outcome.status });
    }
  }
  if (done.length > 0) await deps.store.removeDelivered(done);
  if (kept.length > 0) await deps.store.releaseToPending(kept);
  return { delivered: done.length, ...(stop ? { stop } : {}), status: stopStatus };
}

/** 408/480: the UA is gone although registered; hold until the user shows up again. */
async function markAway(recipient: string, version: number, deps: DeliveryDeps): Promise<void> {
  const user = await deps.users.getUser(recipient);
  if ((user.presence?.version ?? 0) !== version) return; // a newer presence change wins
  await deps.users.putPresence(recipient, markUnreachable(user.presence, deps.now()), version);
}
