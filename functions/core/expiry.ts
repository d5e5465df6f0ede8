// Use cases: the sweeper finds messages whose time ran out (or whose recipient is on vacation)
// and claims them for email; the email step sends one digest per recipient and only then
// deletes them (docs/design.md "Message lifecycle").
//
// pending → expiring is a conditional write, as is pending → delivering, so a message is emailed
// XOR delivered even when the sweeper and a delivery run race for it. A message bounced on
// expiry stays `bounced` until its notice settles it (functions/core/notice-delivery.ts); one
// whose notice was never settled (a crash between the bounce and its notice) is found again by
// the sweeper, and its notice queued again.

import { emailOfAor } from '../../shared/aor.ts';
import * as z from '../../shared/zod.ts';
import { type AlertStore, settleAlertCopies } from './alerts.ts';
import { chatIdOfVisitor } from './chat.ts';
import { renderDigest } from './digest.ts';
import type { HeldMessage } from './held-message.ts';
import { bounceNoticeOf, expiryBounce } from './notices.ts';
import type { BounceStore, ChatStore, DeliveryQueue, UserStore } from './ports.ts';

/** What the expiry index tells about a held message, without reading the message. */
export interface ExpiryEntry {
  recipient: string;
  id: string;
  receivedAt: string;
  /** Absent where the entry was not read from the expiry index (a vacationer's messages). */
  expiresAt?: string;
  state: string;
  claimedAt?: number;
}

export const ExpiryJobSchema = z.object({
  recipient: z.string().check(z.minLength(1)),
  reason: z.enum(['expired', 'vacation']),
  messages: z
    .array(z.object({ id: z.string().check(z.minLength(1)), receivedAt: z.string().check(z.minLength(1)) }))
    .check(z.minLength(1)),
});
export type ExpiryJob = z.infer<typeof ExpiryJobSchema>;

export interface ExpiryStore {
  /** Index entries due at `nowIso` in one shard, a page at a time. */
  due(shard: number, nowIso: string, after?: unknown): Promise<{ entries: ExpiryEntry[]; next?: unknown }>;
  /** The earliest expiry still in a shard's index (claimed or not): how far behind email is. */
  earliestExpiry(shard: number): Promise<string | undefined>;
  /** Users whose vacation is in force at `nowIso`. */
  onVacation(nowIso: string): Promise<string[]>;
  /** A user's messages still pending or claimed for expiry (vacation sweep). */
  waiting(recipient: string): Promise<ExpiryEntry[]>;
  /**
   * pending → expiring; also re-claims a claim older than `staleBefore`. A message in flight
   * (`delivering`) is never claimed while the lease of the run that has it is live (`until` ≥
   * `nowMs`): it is not expired from under its delivery; once that lease has lapsed (the run
   * died) it is claimed like a pending one. A `bounced` message
   * whose bounce (claim) is older than `staleBefore` stays bounced with a fresh claim (its notice
   * is queued again). Returns what this sweep now owns.
   */
  claimForExpiry(entries: ExpiryEntry[], nowMs: number, staleBefore: number): Promise<ExpiryEntry[]>;
  /**
   * The claimed messages themselves, oldest first: those still expiring, and those bounced whose
   * notice is being queued again.
   */
  expiring(recipient: string, messages: ExpiryJob['messages']): Promise<HeldMessage[]>;
  /** expiring → deleted, once the recipient was emailed or the sender told. */
  removeExpired(messages: HeldMessage[]): Promise<void>;
}

export interface ExpiredQueue {
  enqueue(job: ExpiryJob): Promise<void>;
}

export interface Mailer {
  /** Resolves once the mail service accepted the email; rejects if it did not. */
  send(mail: { to: string; subject: string; text: string; html: string }): Promise<string>;
}

export interface SweepDeps {
  store: ExpiryStore;
  queue: ExpiredQueue;
  now: () => number;
  shards: number;
  /** A claim older than this is taken again: its email step died (crash, DLQ redrive). */
  claimTimeoutMs: number;
  /** Messages per job at most (SQS message size). */
  jobSize: number;
  /**
   * How often the sweeper runs. A recipient with something due also gets, in the same digest,
   * what would fall due before the next sweep: at most one interval early, one email not two.
   */
  intervalMs: number;
}

export interface SweepResult {
  claimed: number;
  recipients: number;
  indexEntriesRead: number;
  /** Seconds the most overdue message still waits past its expiry (0 if none): the lag alarm. */
  overdueSeconds: number;
}

export async function sweepDue(deps: SweepDeps): Promise<SweepResult> {
  const nowMs = deps.now();
  const nowIso = new Date(nowMs).toISOString();
  const result: SweepResult = { claimed: 0, recipients: 0, indexEntriesRead: 0, overdueSeconds: 0 };

  // Collected over the whole sweep (all shards), so each recipient gets one job: one digest.
  const claimedBy = new Map<string, { reason: ExpiryJob['reason']; entries: ExpiryEntry[] }>();
  const claim = async (entries: ExpiryEntry[], reason: ExpiryJob['reason']) => {
    result.indexEntriesRead += entries.length;
    const stale = nowMs - deps.claimTimeoutMs;
    const candidates = entries.filter(
      (entry) =>
        entry.state === 'pending' ||
        (entry.state === 'expiring' && (entry.claimedAt ?? 0) < stale) ||
        // bounced, but its notice never settled it (the run died before queueing it)
        (entry.state === 'bounced' && (entry.claimedAt ?? 0) < stale) ||
        // left `delivering` by a delivery run that died, long enough ago that no run still owns it
        (entry.state === 'delivering' && Date.parse(entry.expiresAt ?? '') < stale),
    );
    for (const entry of await deps.store.claimForExpiry(candidates, nowMs, nowMs - deps.claimTimeoutMs)) {
      const group = claimedBy.get(entry.recipient) ?? { reason, entries: [] };
      group.entries.push(entry);
      claimedBy.set(entry.recipient, group);
      result.claimed++;
    }
  };

  for (const recipient of await deps.store.onVacation(nowIso)) {
    await claim(await deps.store.waiting(recipient), 'vacation');
  }
  const soonIso = new Date(nowMs + deps.intervalMs).toISOString();
  const upcoming: ExpiryEntry[] = [];
  const withDue = new Set<string>();
  for (let shard = 0; shard < deps.shards; shard++) {
    let after: unknown;
    do {
      const page = await deps.store.due(shard, soonIso, after);
      for (const entry of page.entries) {
        upcoming.push(entry);
        if ((entry.expiresAt ?? '') <= nowIso) withDue.add(entry.recipient);
      }
      after = page.next;
    } while (after !== undefined);
  }
  await claim(
    upcoming.filter((entry) => withDue.has(entry.recipient)),
    'expired',
  );
  for (const [recipient, { reason, entries }] of claimedBy) {
    for (let start = 0; start < entries.length; start += deps.jobSize) {
      const messages = entries
        .slice(start, start + deps.jobSize)
        .map(({ id, receivedAt }) => ({ id, receivedAt }));
      await deps.queue.enqueue({ recipient, reason, messages });
    }
  }
  result.recipients = claimedBy.size;
  for (let shard = 0; shard < deps.shards; shard++) {
    const earliest = await deps.store.earliestExpiry(shard);
    if (earliest !== undefined) {
      result.overdueSeconds = Math.max(
        result.overdueSeconds,
        Math.floor((nowMs - Date.parse(earliest)) / 1000),
      );
    }
  }
  return result;
}

export interface EmailDeps {
  users: UserStore;
  store: ExpiryStore & BounceStore;
  mailer: Mailer;
  notices: DeliveryQueue;
  now: () => number;
  newId: () => string;
  /** Chats: answers held for a visitor AOR go to the address the visitor gave. */
  chats?: ChatStore;
  /** Alerts from email: a member's copy emailed or dropped is recorded on its alert. */
  alerts?: AlertStore;
}

export type EmailOutcome = (
  | { outcome: 'emailed'; to: string; count: number; mailId: string }
  | { outcome: 'bounced' | 'dropped'; count: number }
  | { outcome: 'nothing' }
) & {
  /** Bounced messages whose notice was queued again (it had not settled them in time). */
  renoticed?: number;
};

/** A mailbox we can write to: `user@host` with a DNS name, not an IP address or localhost. */
export function mailboxOf(aor: string, configured: string | undefined): string | undefined {
  if (configured) return configured;
  const address = emailOfAor(aor);
  const host = address.slice(address.indexOf('@') + 1);
  if (/^\[|^\d+(\.\d+){3}$|^localhost$/i.test(host) || !host.includes('.')) return undefined;
  return address;
}

export async function emailExpired(job: ExpiryJob, deps: EmailDeps): Promise<EmailOutcome> {
  const claimed = await deps.store.expiring(job.recipient, job.messages);
  const stale = claimed.filter((message) => message.state === 'bounced');
  for (const message of stale) {
    const bounce = message.bounce ?? expiryBounce(message, deps.now());
    await deps.notices.enqueue(bounceNoticeOf(message, bounce, deps.newId(), deps.now()));
  }
  const renoticed = stale.length > 0 ? { renoticed: stale.length } : {};
  const expiring = claimed.filter((message) => message.state === 'expiring');
  if (expiring.length === 0) return { outcome: 'nothing', ...renoticed };
  const chatId = chatIdOfVisitor(job.recipient);
  if (chatId !== undefined) return emailVisitor(chatId, expiring, deps, renoticed);
  const user = await deps.users.getUser(job.recipient, { countHeld: false });
  const mailbox = mailboxOf(job.recipient, user.settings?.email);
  // An alert copy follows its group's policy, never bounced (its sender is a group): emailed
  // if the group says so and there is a mailbox, else dropped.
  const alertCopies = expiring.filter((message) => message.alert !== undefined);
  const dropAlerts = alertCopies.filter(
    (message) => message.alert?.onExpire !== 'email' || mailbox === undefined,
  );
  if (dropAlerts.length > 0) {
    await deps.store.removeExpired(dropAlerts);
    await settleAlertCopies(deps.alerts, dropAlerts, 'dropped', deps.now());
  }
  const emailAlerts = alertCopies.filter((message) => !dropAlerts.includes(message));
  const messages = expiring.filter((message) => message.alert === undefined);
  const policy = user.settings?.onExpire ?? 'email';
  // The user's own messages by the user's policy; the outcome told is theirs, else the alerts'.
  let outcome: EmailOutcome | undefined;
  if (messages.length > 0 && policy === 'drop') {
    await deps.store.removeExpired(messages);
    outcome = { outcome: 'dropped', count: messages.length };
  } else if (messages.length > 0 && (policy === 'bounce' || mailbox === undefined)) {
    // Kept as `bounced` until the notice reached the sender (or failed for good): never
    // deleted before its outcome is known.
    const nowMs = deps.now();
    const bounces = messages.map((message) => ({
      message,
      bounce:
        policy === 'bounce'
          ? expiryBounce(message, nowMs)
          : {
              ...expiryBounce(message, nowMs),
              reason: `it waited until ${message.expiresAt} and expired, and ${job.recipient} has no mailbox to email it to`,
            },
    }));
    const marked = new Set((await deps.store.markBounced(bounces, 'expiring')).map((message) => message.id));
    for (const { message, bounce } of bounces) {
      if (marked.has(message.id))
        await deps.notices.enqueue(bounceNoticeOf(message, bounce, deps.newId(), nowMs));
    }
    outcome = { outcome: 'bounced', count: marked.size };
  }
  // policy email, with a mailbox: the user's messages and the alert copies to email, one digest
  const digested = [...(outcome === undefined ? messages : []), ...emailAlerts];
  if (digested.length > 0 && mailbox !== undefined) {
    const emailed = await emailDigest(job, digested, mailbox, user, deps);
    outcome ??= emailed;
  }
  return { ...(outcome ?? { outcome: 'dropped', count: dropAlerts.length }), ...renoticed };
}

async function emailDigest(
  job: ExpiryJob,
  messages: HeldMessage[],
  mailbox: string,
  user: Awaited<ReturnType<UserStore['getUser']>>,
  deps: EmailDeps,
): Promise<EmailOutcome> {
  const digest = renderDigest(job.recipient, messages, {
    ...(user.settings?.timeZone ? { timeZone: user.settings.timeZone } : {}),
    vacation: job.reason === 'vacation',
  });
  // Deleted only after the mail service accepted the digest: a failure leaves them claimed,
  // and the job is retried (and, past its retries, the sweeper claims them again).
  const mailId = await deps.mailer.send({ to: mailbox, ...digest });
  await deps.store.removeExpired(messages);
  await settleAlertCopies(deps.alerts, messages, 'emailed', deps.now());
  return { outcome: 'emailed', to: mailbox, count: messages.length, mailId };
}

/**
 * Answers that came after a chat ended, held for its visitor AOR: one digest to the address the
 * visitor gave. Without one (or once the chat is gone) they are dropped: the chat recorded them.
 */
async function emailVisitor(
  chatId: string,
  messages: HeldMessage[],
  deps: EmailDeps,
  renoticed: { renoticed?: number },
): Promise<EmailOutcome> {
  const found = await deps.chats?.getChat(chatId);
  const mailbox = found?.chat.email;
  if (found === undefined || mailbox === undefined) {
    await deps.store.removeExpired(messages);
    return { outcome: 'dropped', count: messages.length, ...renoticed };
  }
  const digest = renderDigest(found.chat.visitor, messages, { chatWith: found.chat.to });
  const mailId = await deps.mailer.send({ to: mailbox, ...digest });
  await deps.store.removeExpired(messages);
  return { outcome: 'emailed', to: mailbox, count: messages.length, mailId, ...renoticed };
}
