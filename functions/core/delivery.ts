// Use case: deliver a recipient's held messages, oldest first, strictly in order, by one worker
// at a time (docs/design.md "Message lifecycle"). handler (functions/deliver.ts) →
// deliverBacklog → ports.
//
// Each message is marked `delivering` under this run before it is sent, so a crash leaves it to
// be sent again by the next run with the same Call-ID (derived from its id), which lets the UA
// drop the copy. The run's lease is renewed throughout the run (a heartbeat), and a
// message in flight under a live lease cannot be taken by a second worker.

import { classifyFinal, type DeliveryOutcome } from '../../shared/contract/delivery.ts';
import { type AlertStore, settleAlertCopies } from './alerts.ts';
import { markChatLinesDelivered } from './chat.ts';
import { chooseMember, type GroupStore, isAvailable } from './groups.ts';
import type { BounceFacts, HeldMessage } from './held-message.ts';
import type { DeliveryJob } from './jobs.ts';
import { bounceNoticeOf, deliveryNotificationOf, deliveryOf, wantsPositiveDelivery } from './notices.ts';
import {
  type BounceStore,
  type ChatStore,
  type DeliveryQueue,
  type DeliveryStore,
  type Edge,
  type EdgeDelivery,
  LeaseLostError,
  type UserRecord,
  type UserStore,
} from './ports.ts';
import { effectivePresence, holdsMessages } from './presence.ts';
import { RetryLaterError } from './retry.ts';

export interface DeliveryDeps {
  users: UserStore;
  store: DeliveryStore & BounceStore;
  queue: DeliveryQueue;
  edge: Edge;
  now: () => number;
  newId: () => string;
  /** Whether the edge routes through an outbound proxy, so no registered contact is needed. */
  viaProxy: boolean;
  /** Groups: a group's own backlog (a queue nobody was available for) goes to one member. */
  groups?: GroupStore;
  /** Chats: a delivered visitor line becomes `delivered` in its chat. */
  chats?: ChatStore;
  batchSize: number;
  leaseMs: number;
  /** How often the lease is renewed while the edge sends a batch; default a third of `leaseMs`. */
  heartbeatMs?: number;
  /** Told about each message's outcome (metrics, logs). */
  observe?: (event: DeliveryEvent) => void;
  /** Alerts from email: a member's copy delivered (or refused) is recorded on its alert. */
  alerts?: AlertStore;
}

export type DeliveryEvent =
  | { kind: 'delivered'; message: HeldMessage; latencyMs: number }
  | { kind: 'bounced'; message: HeldMessage; status: number }
  | { kind: 'kept'; message: HeldMessage; status: number };

export type DeliveryRun = (
  | { outcome: 'done'; delivered: number }
  | { outcome: 'held'; delivered: number; state: string }
  | { outcome: 'unreachable'; delivered: number; status: number }
  | { outcome: 'busy' }
) & {
  /** Messages arrived (or the user became available) while the run was ending: a new run was queued. */
  requeued?: boolean;
};

export async function deliverBacklog(recipient: string, deps: DeliveryDeps): Promise<DeliveryRun> {
  const owner = deps.newId();
  if (!(await deps.store.acquireLease(recipient, owner, deps.leaseMs))) return { outcome: 'busy' };
  let run: DeliveryRun;
  let to = recipient;
  try {
    const receiver = await receiverOf(recipient, deps);
    if (receiver === undefined) run = { outcome: 'held', delivered: 0, state: 'no member available' };
    else {
      to = receiver;
      run = await runBatches(recipient, to, owner, deps);
    }
  } finally {
    await deps.store.releaseLease(recipient, owner);
  }
  // Whichever lands second sees the other: a message captured (or a presence change made) while
  // this run held the lease found it busy; now that the lease is released, look once more.
  if ((run.outcome === 'done' || run.outcome === 'held') && (await stillWaiting(recipient, to, deps))) {
    await deps.queue.enqueue({ kind: 'deliver', recipient });
    return { ...run, requeued: true };
  }
  return run;
}

/**
 * Who gets a recipient's messages: the recipient, or for a group (a queue nobody was available
 * for) the available, reachable member idle longest; undefined when no member is.
 */
async function receiverOf(recipient: string, deps: DeliveryDeps): Promise<string | undefined> {
  const group = await deps.groups?.getGroup(recipient);
  if (group === undefined || deps.groups === undefined) return recipient;
  const nowMs = deps.now();
  const [state, users] = await Promise.all([
    deps.groups.queueState(group.aor, ''),
    Promise.all(group.members.map((member) => deps.users.getUser(member))),
  ]);
  const available = new Set(
    group.members.filter((_, index) => {
      const user = users[index] as UserRecord;
      const reachable = deps.viaProxy || effectivePresence(user.presence, nowMs).contact !== undefined;
      return reachable && isAvailable(user, nowMs);
    }),
  );
  return chooseMember(group.members, available, { lastAssigned: state.lastAssigned }, nowMs);
}

/**
 * Batches handed to the edge at once, at most: the one being sent and the next, queued behind it
 * there, so the next MESSAGE goes out as soon as the previous one's final answer arrives, with no
 * round trip to the API between batches. The edge does not send a queued batch once the one before
 * it stopped (408, 480, 5xx); a crash re-sends at most these (same Call-IDs).
 */
const BATCHES_AHEAD = 2;

type Answer = EdgeDelivery | { failed: unknown };

async function runBatches(
  recipient: string,
  to: string,
  owner: string,
  deps: DeliveryDeps,
): Promise<DeliveryRun> {
  let delivered = 0;
  // the outcomes of the last batch judged, being written while the edge sends the next ones
  let settling: Promise<number> = Promise.resolve(0);
  const handed: Array<{ batch: HeldMessage[]; answer: Promise<Answer>; accepted: Promise<boolean> }> = [];
  // a batch marked but not handed over (the one before it failed on the way)
  let unsent: HeldMessage[] | undefined;
  let after: HeldMessage | undefined;
  let ending: Exclude<Prepared, { kind: 'batch' }> | undefined;
  const beat = heartbeat(
    () => deps.store.acquireLease(recipient, owner, deps.leaseMs),
    deps.heartbeatMs ?? Math.max(1, Math.floor(deps.leaseMs / 3)),
  );
  try {
    for (;;) {
      // Read, mark and hand over batches until BATCHES_AHEAD are at the edge: the store's round
      // trips overlap the SIP transactions of the batch being sent.
      while (ending === undefined && unsent === undefined && handed.length < BATCHES_AHEAD) {
        const prepared = await prepare(recipient, to, after, owner, deps);
        if (prepared.kind !== 'batch') {
          ending = prepared;
          break;
        }
        const { batch, presence } = prepared;
        // Only once the edge took the batch before: a call that failed on the way (a reset
        // connection) must not let this one overtake it.
        if (!(await (handed.at(-1)?.accepted ?? true))) {
          unsent = batch;
          break;
        }
        if (to !== recipient) await assigned(recipient, to, batch, deps);
        let accept: (taken: boolean) => void = () => {};
        const accepted = new Promise<boolean>((resolve) => {
          accept = resolve;
        });
        const answer: Promise<Answer> = deps.edge
          .deliver(
            {
              recipient: to,
              ...(presence.contact ? { target: presence.contact } : {}),
              messages: batch.map(deliveryOf),
            },
            { accepted: () => accept(true) },
          )
          .catch((error: unknown) => ({ failed: error }));
        void answer.then((settled) => accept(!('failed' in settled)));
        handed.push({ batch, answer, accepted });
        after = batch.at(-1);
      }
      const oldest = handed.shift();
      if (oldest === undefined) {
        const total = delivered + (await settling);
        if (ending?.kind === 'held') return { outcome: 'held', delivered: total, state: ending.state };
        if (ending?.kind === 'busy') return { outcome: 'busy' };
        return { outcome: 'done', delivered: total };
      }
      const answer = await oldest.answer;
      if ('failed' in answer) {
        await deps.store.releaseToPending(oldest.batch, owner);
        const error = answer.failed;
        throw new RetryLaterError(
          `edge unavailable: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      // Outcomes the edge reported count even if it went away mid-batch: only the message in
      // flight at that moment is sent again (same Call-ID), not the whole batch.
      const verdict = judge(oldest.batch, answer.outcomes, deps);
      delivered += await settling;
      settling = settle(verdict, owner, deps);
      if (!answer.complete) throw new RetryLaterError('the edge went away during a delivery batch');
      // Another worker took the recipient over (this run stalled past its lease): it goes on.
      if (beat.lost()) return { outcome: 'busy' };
      if (verdict.stop === 'away') {
        return { outcome: 'unreachable', delivered: delivered + (await settling), status: verdict.status };
      }
      if (verdict.stop === 'retry') throw new RetryLaterError(`recipient UA answered ${verdict.status}`);
    }
  } finally {
    // Whatever ends the run: finish writing outcomes, then those of the batches still at the edge
    // (one queued behind a stop comes back unsent and is handed back; what was sent is recorded).
    await settling.catch(() => 0);
    if (unsent) await deps.store.releaseToPending(unsent, owner).catch(() => undefined);
    for (const rest of handed) {
      const answer = await rest.answer;
      await ('failed' in answer
        ? deps.store.releaseToPending(rest.batch, owner)
        : settle(judge(rest.batch, answer.outcomes, deps), owner, deps)
      ).catch(() => 0);
    }
    await beat.stop();
  }
}

/**
 * Renews the lease every `everyMs` while the run goes on (a batch at the edge may take minutes);
 * `lost` tells whether a renewal was refused, i.e. another worker holds the recipient now.
 */
function heartbeat(renew: () => Promise<boolean>, everyMs: number) {
  let lost = false;
  let renewing: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    renewing = renewing
      .then(renew)
      .then((held) => {
        if (!held) lost = true;
      })
      .catch(() => undefined); // a failed renewal is tried again at the next beat
  }, everyMs);
  return {
    lost: () => lost,
    stop: async () => {
      clearInterval(timer);
      await renewing;
    },
  };
}

type Prepared =
  | { kind: 'batch'; batch: HeldMessage[]; presence: { contact?: string } }
  | { kind: 'held'; state: string }
  | { kind: 'done' }
  | { kind: 'busy' };

/**
 * Checks the user is still available and marks the next batch delivering. The lease is not
 * written here (the heartbeat renews it): marking refuses a run whose lease was lost (busy).
 */
async function prepare(
  recipient: string,
  to: string,
  after: HeldMessage | undefined,
  owner: string,
  deps: DeliveryDeps,
): Promise<Prepared> {
  const user = await deps.users.getUser(to, { countHeld: false });
  const presence = effectivePresence(user.presence, deps.now());
  if (holdsMessages(presence.state, user.settings, deps.now()))
    return { kind: 'held', state: presence.state };
  if (presence.contact === undefined && !deps.viaProxy) return { kind: 'held', state: 'no contact' };
  let from = after;
  for (;;) {
    const candidates = await deps.store.deliverable(recipient, deps.batchSize, from);
    if (candidates.length === 0) return { kind: 'done' };
    let batch: HeldMessage[];
    try {
      batch = await deps.store.markDelivering(candidates, owner);
    } catch (error) {
      if (error instanceof LeaseLostError) return { kind: 'busy' };
      throw error;
    }
    if (batch.length > 0) return { kind: 'batch', batch, presence };
    from = candidates.at(-1); // all taken by expiry meanwhile: look further
  }
}

/** A queue's backlog went to `member`: their idle time, and each sender's conversation, follow. */
async function assigned(group: string, member: string, batch: HeldMessage[], deps: DeliveryDeps) {
  const nowMs = deps.now();
  const senders = new Set(batch.map((message) => message.sender));
  await Promise.all(
    [...senders].map((sender) => deps.groups?.recordAssignment(group, member, sender, nowMs)),
  ).catch(() => undefined); // a heuristic: a lost record only makes the next choice less fair
}

/** Whether the user is available and reachable with something still to deliver. */
async function stillWaiting(recipient: string, to: string, deps: DeliveryDeps): Promise<boolean> {
  const user = await deps.users.getUser(to, { countHeld: false });
  const nowMs = deps.now();
  const presence = effectivePresence(user.presence, nowMs);
  if (holdsMessages(presence.state, user.settings, nowMs)) return false;
  if (presence.contact === undefined && !deps.viaProxy) return false;
  return (await deps.store.deliverable(recipient, 1)).length > 0;
}

interface Verdict {
  done: HeldMessage[];
  /** Alert copies refused for good: nobody to tell (the alert record reports it), deleted. */
  failedAlerts: HeldMessage[];
  kept: HeldMessage[];
  bounced: Array<{ message: HeldMessage; bounce: BounceFacts }>;
  notices: DeliveryJob[];
  delivered: number;
  stop?: 'away' | 'retry';
  status: number;
}

/** What each outcome means for its message (pure); `settle` writes it. */
function judge(batch: HeldMessage[], outcomes: DeliveryOutcome[], deps: DeliveryDeps): Verdict {
  const byId = new Map(outcomes.map((outcome) => [outcome.id, outcome]));
  const verdict: Verdict = {
    done: [],
    failedAlerts: [],
    kept: [],
    bounced: [],
    notices: [],
    delivered: 0,
    status: 0,
  };
  for (const message of batch) {
    const outcome = byId.get(message.id);
    if (outcome === undefined || verdict.stop !== undefined) {
      verdict.kept.push(message); // not attempted: the edge stopped before it
      continue;
    }
    const final = classifyFinal(outcome.status);
    if (final === 'delivered') {
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
    } else if (final === 'away' || final === 'retry') {
      // Presence is not changed: it comes from REGISTER/PUBLISH only, so a UA that silently drops
      // a re-sent duplicate is not marked away.
      verdict.kept.push(message);
      verdict.stop = final;
      verdict.status = outcome.status;
      deps.observe?.({ kind: 'kept', message, status: outcome.status });
    } else if (message.alert !== undefined) {
      verdict.failedAlerts.push(message);
      deps.observe?.({ kind: 'bounced', message, status: outcome.status });
    } else {
      // A permanent refusal: the message is bounced, and deleted only once its sender was told.
      verdict.bounced.push({
        message,
        bounce: { status: outcome.status, reason: outcome.reason, at: deps.now() },
      });
      deps.observe?.({ kind: 'bounced', message, status: outcome.status });
    }
  }
  return verdict;
}

/** A chat line's state is what the page shows; a lost update there only leaves it `held`. */
async function chatLines(done: HeldMessage[], deps: DeliveryDeps): Promise<void> {
  if (deps.chats) await markChatLinesDelivered(done, deps.chats).catch(() => undefined);
}

/** Writes a verdict. A bounce is recorded before its notice is queued; the notice's outcome settles it. */
async function settle(verdict: Verdict, owner: string, deps: DeliveryDeps): Promise<number> {
  for (const notice of verdict.notices) await deps.queue.enqueue(notice);
  const bounceNotices = async () => {
    const marked = new Set(
      (await deps.store.markBounced(verdict.bounced, 'delivering')).map((message) => message.id),
    );
    for (const { message, bounce } of verdict.bounced) {
      if (marked.has(message.id))
        await deps.queue.enqueue(bounceNoticeOf(message, bounce, deps.newId(), deps.now()));
    }
  };
  const removed = [...verdict.done, ...verdict.failedAlerts];
  await Promise.all([
    removed.length > 0
      ? deps.store.removeDelivered(removed).then(() => chatLines(verdict.done, deps))
      : undefined,
    verdict.kept.length > 0 ? deps.store.releaseToPending(verdict.kept, owner) : undefined,
    verdict.bounced.length > 0 ? bounceNotices() : undefined,
  ]);
  await settleAlertCopies(deps.alerts, verdict.done, 'delivered', deps.now());
  await settleAlertCopies(deps.alerts, verdict.failedAlerts, 'failed', deps.now());
  return verdict.delivered;
}
