// Use case: capture a MESSAGE for an absent recipient (docs/design.md "Message lifecycle").
// handler (functions/capture.ts) → captureMessage → ports (MessageStore, SettingsStore).
import { createHash } from 'node:crypto';
import { domainOf, normalizeAor } from '../../shared/aor.ts';
import { parseDuration } from '../../shared/duration.ts';
import {
  DeadlineExceededError,
  ForeignDomainError,
  QuotaExceededError,
  TooLargeError,
  UnsupportedMediaError,
} from '../../shared/errors.ts';
import { answerChat, type ChatPolicy, chatIdOfVisitor } from './chat.ts';
import {
  CPIM,
  charsetOf,
  decodeText,
  IS_COMPOSING,
  isHoldable,
  isTextType,
  parseContentType,
} from './content.ts';
import { type CpimEnvelope, parseCpim } from './cpim.ts';
import { chooseMember, type Group, type GroupStore, isAvailable } from './groups.ts';
import { type AlertFacts, type CpimFacts, type HeldMessage, readableContent } from './held-message.ts';
import { autoReplyOf } from './notices.ts';
import type {
  ChatStore,
  DeliveryQueue,
  MessageStore,
  PresenceSummary,
  RecipientStore,
  UserRecord,
  UserStore,
} from './ports.ts';
import { effectivePresence, holdsMessages, presenceStateOf } from './presence.ts';

export interface CapturePolicy {
  /** SIP domains served; anything else is refused (no open relay). */
  domains: ReadonlySet<string>;
  defaultExpireAfterMs: number;
  maxBodyBytes: number;
  quota: number;
}

export interface CaptureDeps {
  store: MessageStore;
  users: UserStore;
  queue: DeliveryQueue;
  policy: CapturePolicy;
  /** Groups: a MESSAGE to a group goes to its members. Without it every recipient is a user. */
  groups?: GroupStore;
  /**
   * The group at the recipient's AOR and the user's settings in one read (DynamoDB: one request,
   * its `hold` reading the presence after the write); without it capture reads the group and
   * the user side by side.
   */
  recipients?: RecipientStore;
  /** Chats: a MESSAGE to a visitor AOR (sip:chat-<id>@…) joins its chat instead of being held. */
  chats?: { store: ChatStore; policy: ChatPolicy };
  now: () => number;
  newId: (nowMs: number) => string;
  /**
   * Told when a step after the message was stored failed (queueing its delivery run or an
   * offline notice): the message is stored, so the answer stays 202; the run is started again
   * by the user's next REGISTER/PUBLISH or a run's re-check.
   */
  onFollowUpError?: (error: unknown) => void;
}

/** At most one offline notice per sender per hour, one vacation auto-reply per sender per day. */
export const OFFLINE_NOTICE_WINDOW_MS = 3_600_000;
export const AUTO_REPLY_WINDOW_MS = 86_400_000;

/** A MESSAGE as the edge saw it. */
export interface CapturedMessage {
  callId: string;
  cseq: number;
  /** URI from the From header. */
  from: string;
  fromName?: string;
  /** URI from the To header: the recipient's address-of-record. */
  to: string;
  contentType: string;
  body: Uint8Array;
  subject?: string;
  /** The MESSAGE's Expires header, seconds: it can only shorten how long we hold. */
  expires?: number;
  /** Where the sender can be reached: their Contact, or where the MESSAGE came from. */
  replyTo?: string;
  /** The MESSAGE is itself an automatic answer (Auto-Submitted): never answer it automatically. */
  autoSubmitted?: boolean;
  /** A member's copy of an alert (functions/core/alerts.ts); never set from the wire. */
  alert?: AlertFacts;
  /** When the edge received it: the order of arrival, kept although captures run concurrently. */
  receivedAt?: string;
  /**
   * Epoch ms after which the edge no longer waits for the answer (it answers 503): nothing is
   * stored past it, and the store write is cut off at it.
   */
  deadline?: number;
}

/** How long past the deadline the steps after a stored message may still delay the 202 (ms). */
const FOLLOW_UP_GRACE_MS = 1000;

/** The edge's clock is trusted for ordering only while it agrees with ours within this. */
const MAX_EDGE_CLOCK_SKEW_MS = 300_000;

export type CaptureResult =
  | { status: 'held' | 'duplicate'; id: string; expiresAt: string }
  | { status: 'ignored'; reason: string }
  /** A member's answer to a chat's visitor, added to the chat (SIP 200). */
  | { status: 'chat'; chatId: string; lineId: string };

export async function captureMessage(message: CapturedMessage, deps: CaptureDeps): Promise<CaptureResult> {
  const { policy } = deps;
  const recipient = normalizeAor(message.to);
  if (!policy.domains.has(domainOf(recipient))) {
    throw new ForeignDomainError(`${domainOf(recipient)} is not a domain served here`);
  }
  if (message.body.byteLength > policy.maxBodyBytes) {
    throw new TooLargeError(`Body is ${message.body.byteLength} bytes; the limit is ${policy.maxBodyBytes}`);
  }
  const type = parseContentType(message.contentType);
  if (type.mediaType === IS_COMPOSING) return { status: 'ignored', reason: 'is-composing indication' };

  const cpim = type.mediaType === CPIM ? parseCpim(message.body) : undefined;
  checkReadable(cpim ? cpim.contentType : message.contentType, cpim ? cpim.body : message.body);

  const clockMs = deps.now();
  const edgeMs = message.receivedAt ? Date.parse(message.receivedAt) : Number.NaN;
  const trustEdge = Math.abs(edgeMs - clockMs) <= MAX_EDGE_CLOCK_SKEW_MS;
  const nowMs = trustEdge ? edgeMs : clockMs;
  const receivedAt =
    trustEdge && message.receivedAt
      ? microsIso(message.receivedAt)
      : microsIso(new Date(clockMs).toISOString());
  const sender = senderAor(message.from);
  const chatId = chatIdOfVisitor(recipient);
  if (chatId !== undefined && deps.chats !== undefined) {
    const text = readableContent(message.contentType, message.body).text ?? '(content that is not text)';
    return answerChat(chatId, message, text, sender, {
      ...deps,
      chats: deps.chats.store,
      chatPolicy: deps.chats.policy,
    });
  }
  const prepared: Prepared = { message, cpim, sender, receivedAt, nowMs };
  const dedupeKeys = [dedupeKey('call', message.callId, String(message.cseq))];
  if (cpim?.imdnMessageId) dedupeKeys.push(dedupeKey('imdn', sender, cpim.imdnMessageId));

  const { group, user } = await readRecipient(recipient, deps);
  if (group === undefined) return captureFor(recipient, dedupeKeys, prepared, deps, user);
  if (group.routing === 'all') {
    // One copy per member, each held for them as usual: its own dedupe markers (a retransmission
    // to the group is stored once per member), its member's quota, expiry and IMDN. A member who
    // writes to the list gets no copy of their own message.
    const members = group.members.filter((member) => member !== sender);
    if (members.length === 0) return { status: 'ignored', reason: 'the sender is the only member' };
    const results = await Promise.allSettled(
      members.map((member) =>
        captureFor(
          member,
          dedupeKeys.map((key) => dedupeKey('member', key, member)),
          prepared,
          deps,
        ),
      ),
    );
    return combine(results);
  }
  return captureForQueue(group, dedupeKeys, prepared, deps);
}

/** The group at `aor`, if it is one, and the user's record (the held count not read). */
async function readRecipient(aor: string, deps: CaptureDeps): Promise<{ group?: Group; user: UserRecord }> {
  if (deps.groups === undefined) return { user: await deps.users.getUser(aor, { countHeld: false }) };
  if (deps.recipients) {
    const { group, settings } = await deps.recipients.readRecipient(aor);
    const user: UserRecord = settings ? { held: 0, settings } : { held: 0 };
    return group ? { group, user } : { user };
  }
  // Both reads at once: a user's capture waits no longer for the group lookup.
  const [group, user] = await Promise.all([
    deps.groups.getGroup(aor),
    deps.users.getUser(aor, { countHeld: false }),
  ]);
  return group ? { group, user } : { user };
}

interface Prepared {
  message: CapturedMessage;
  cpim: CpimEnvelope | undefined;
  sender: string;
  receivedAt: string;
  nowMs: number;
}

/** Holds the message for one recipient (a user, a member of a group, or a queue nobody took). */
async function captureFor(
  recipient: string,
  dedupeKeys: string[],
  { message, cpim, sender, receivedAt, nowMs }: Prepared,
  deps: CaptureDeps,
  known?: UserRecord,
): Promise<CaptureResult & { status: 'held' | 'duplicate' }> {
  const { policy } = deps;
  const user = known ?? (await deps.users.getUser(recipient, { countHeld: false }));
  const settings = user.settings;
  let holdMs = settings?.expireAfter ? parseDuration(settings.expireAfter) : policy.defaultExpireAfterMs;
  if (message.expires !== undefined && message.expires > 0) holdMs = Math.min(holdMs, message.expires * 1000);

  const heldMessage: HeldMessage = {
    id: deps.newId(nowMs),
    recipient,
    sender,
    senderUri: message.from,
    ...(message.fromName ? { senderName: message.fromName } : {}),
    ...(message.replyTo ? { replyTo: message.replyTo } : {}),
    callId: message.callId,
    cseq: message.cseq,
    contentType: message.contentType,
    body: message.body,
    ...(cpim ? { cpim: cpimFacts(cpim) } : {}),
    ...(message.subject ? { subject: message.subject } : {}),
    ...(message.alert ? { alert: message.alert } : {}),
    receivedAt,
    expiresAt: new Date(nowMs + holdMs).toISOString(),
    state: 'pending',
  };

  const deadline = message.deadline;
  if (deadline !== undefined && deps.now() >= deadline) {
    throw new DeadlineExceededError(
      'The edge stopped waiting before the message could be stored; send it again',
    );
  }
  const outcome = await deps.store.hold(
    heldMessage,
    { dedupeKeys, quota: policy.quota },
    deadline !== undefined ? { deadline } : {},
  );
  switch (outcome.outcome) {
    case 'held':
      await boundedFollowUp(afterHeld(heldMessage, message, user, outcome.after, deps), deadline, deps);
      return { status: 'held', id: heldMessage.id, expiresAt: heldMessage.expiresAt };
    case 'duplicate':
      return { status: 'duplicate', id: outcome.id, expiresAt: outcome.expiresAt };
    case 'quota':
      throw new QuotaExceededError(
        `${recipient} already has ${outcome.held} messages waiting (limit ${policy.quota})`,
      );
  }
}

/**
 * A distribution list's answer: held if any member's copy was stored now, a duplicate if every
 * stored copy was there before; refused only if no member could take it (each over quota).
 */
function combine(
  results: PromiseSettledResult<CaptureResult & { status: 'held' | 'duplicate' }>[],
): CaptureResult {
  const done = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const held = done.find((result) => result.status === 'held');
  if (held) return held;
  if (done[0]) return done[0];
  const refused = results.find((result) => result.status === 'rejected');
  throw (refused as PromiseRejectedResult).reason;
}

/**
 * A queue: the message goes to one available member (chooseMember), else it is held for the
 * group itself and the first member who becomes available gets the group's backlog (a delivery
 * run of the group, queued by that member's presence change, or here if one became available
 * while the message was being stored).
 */
async function captureForQueue(
  group: Group,
  dedupeKeys: string[],
  prepared: Prepared,
  deps: CaptureDeps,
): Promise<CaptureResult> {
  const groups = deps.groups as GroupStore;
  const nowMs = deps.now();
  const [state, users] = await Promise.all([
    groups.queueState(group.aor, prepared.sender),
    Promise.all(group.members.map((member) => deps.users.getUser(member))),
  ]);
  const available = new Set(
    group.members.filter((_, index) => isAvailable(users[index] as UserRecord, nowMs)),
  );
  const member = chooseMember(group.members, available, state, nowMs);
  if (member !== undefined) {
    const result = await captureFor(member, dedupeKeys, prepared, deps);
    if (result.status === 'held') {
      await groups
        .recordAssignment(group.aor, member, prepared.sender, nowMs)
        .catch((error: unknown) => deps.onFollowUpError?.(error));
    }
    return result;
  }
  const result = await captureFor(group.aor, dedupeKeys, prepared, deps);
  if (result.status === 'held') {
    // Whichever lands second sees the other: a member who became available meanwhile found no
    // group backlog yet, so look at the members once more.
    const again = await Promise.all(group.members.map((aor) => deps.users.getUser(aor)));
    if (again.some((user) => isAvailable(user, deps.now()))) {
      await deps.queue
        .enqueue({ kind: 'deliver', recipient: group.aor })
        .catch((error: unknown) => deps.onFollowUpError?.(error));
    }
  }
  return result;
}

/**
 * The message is stored: what follows must neither turn the answer into a failure (a 503 for a
 * stored message) nor delay it past the edge's wait.
 */
async function boundedFollowUp(work: Promise<void>, deadline: number | undefined, deps: CaptureDeps) {
  const guarded = work.catch((error: unknown) => deps.onFollowUpError?.(error));
  if (deadline === undefined) return guarded;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const cutOff = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, deadline + FOLLOW_UP_GRACE_MS - deps.now()));
  });
  await Promise.race([guarded, cutOff]);
  clearTimeout(timer);
}

/**
 * A message for someone who is available (a proxy could not reach them, or nothing but us is in
 * front of them) starts a delivery run; one for someone away may earn the sender an automatic
 * answer, once per window, never in answer to an automatic message.
 *
 * Presence is read again after the message was written (a consistent read): a presence change
 * that landed meanwhile is seen here, or else it sees this message (it reads the count after its
 * own write), so whichever lands second starts the run (docs/design.md "Message lifecycle"). A
 * store that read it with the quota's count (`after`) saves the second read; the settings are
 * the ones read before the write.
 */
async function afterHeld(
  held: HeldMessage,
  message: CapturedMessage,
  before: UserRecord,
  after: { presence?: PresenceSummary } | undefined,
  deps: CaptureDeps,
): Promise<void> {
  const nowMs = deps.now();
  const user = after
    ? before
    : await deps.users.getUser(held.recipient, { countHeld: false }).catch(() => before);
  const state = after
    ? presenceStateOf(after.presence, nowMs)
    : effectivePresence(user.presence, nowMs).state;
  if (!holdsMessages(state, user.settings, nowMs)) {
    await deps.queue.enqueue({ kind: 'deliver', recipient: held.recipient });
    return;
  }
  if (message.autoSubmitted || held.sender === held.recipient) return;
  const vacation = user.settings?.vacation;
  const onVacation = vacation !== undefined && Date.parse(vacation.until) > nowMs;
  const text = onVacation ? vacation.autoReply : user.settings?.offlineNotice;
  if (text === undefined) return;
  const window = onVacation ? AUTO_REPLY_WINDOW_MS : OFFLINE_NOTICE_WINDOW_MS;
  if (!(await deps.users.claimNotice(held.recipient, held.sender, window))) return;
  await deps.queue.enqueue({
    kind: 'notice',
    reason: onVacation ? 'auto-reply' : 'offline-notice',
    ...(held.replyTo ? { target: held.replyTo } : {}),
    message: autoReplyOf(held.recipient, held.sender, text, deps.newId(nowMs), nowMs),
  });
}

/** Times as `…ss.ffffffZ`: one fixed width, so stored keys sort by time as strings. */
export function microsIso(iso: string): string {
  const match = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(iso);
  if (!match) return iso;
  const utc = match[3] === 'Z' ? match[1] : new Date(iso).toISOString().slice(0, 19);
  return `${utc}.${(match[2] ?? '').padEnd(6, '0').slice(0, 6)}Z`;
}

function checkReadable(contentType: string, body: Uint8Array): void {
  const type = parseContentType(contentType);
  if (!isHoldable(type.mediaType)) {
    throw new UnsupportedMediaError(
      `Content type ${type.mediaType} is not held; send text/plain, text/html or message/cpim`,
    );
  }
  if (isTextType(type.mediaType)) decodeText(body, charsetOf(type).label);
}

function senderAor(from: string): string {
  try {
    return normalizeAor(from);
  } catch {
    // tel: and other schemes have no AOR of ours; the URI itself identifies the sender.
    return from;
  }
}

function cpimFacts(envelope: CpimEnvelope): CpimFacts {
  const { from, dateTime, imdnMessageId, imdnDisposition } = envelope;
  return {
    ...(from ? { from } : {}),
    ...(dateTime ? { dateTime } : {}),
    ...(imdnMessageId ? { imdnMessageId } : {}),
    ...(imdnDisposition ? { imdnDisposition } : {}),
  };
}

/** Fixed-size key for a dedupe marker: Call-IDs may be long and contain any token character. */
export function dedupeKey(kind: 'call' | 'imdn' | 'member', ...parts: string[]): string {
  return `${kind}:${createHash('sha256').update(parts.join('\n')).digest('base64url')}`;
}
