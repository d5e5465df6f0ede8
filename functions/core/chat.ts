// Click-to-chat (docs/design.md "Click-to-chat"): a web visitor writes to a public user or group.
// Each chat has a visitor AOR in a served domain (sip:chat-<id>@<domain>); the visitor's lines
// go the way of any MESSAGE (captureMessage: held, or delivered now by the delivery run, From =
// the visitor AOR), so dedupe, quota, queue routing and expiry hold as for everyone else. A
// member's MESSAGE to the visitor AOR reaches capture like any other and joins the chat instead.
// handlers (functions/chats.ts, functions/capture.ts) → these use cases → ports (ChatStore, …).
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { DomainError, NotFoundError, QuotaExceededError } from '../../shared/errors.ts';
import * as z from '../../shared/zod.ts';
import {
  type CaptureDeps,
  type CapturedMessage,
  type CaptureResult,
  captureMessage,
  dedupeKey,
} from './capture.ts';
import { type GroupStore, lookUpAvailability } from './groups.ts';
import type { HeldMessage } from './held-message.ts';
import type { Chat, ChatLine, ChatStore, UserStore } from './ports.ts';
import { TokenRefusedError, verifySigned } from './session.ts';

/** The visitor's part of a chat id: 26 characters of base32 (130 random bits). */
const CHAT_ID = /^[a-z2-7]{26}$/;
const VISITOR_USER = /^sip:chat-([a-z2-7]{26})@[^@]+$/;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** Most characters of one visitor line (a line, not a document). */
export const MAX_TEXT_CHARS = 2000;
/** Most lines a chat keeps (the visitor's and the answers); past it a new chat is needed. */
export const MAX_LINES = 300;
/** Most characters of the visitor's display name. */
export const MAX_NAME_CHARS = 64;

const ISSUER = 'holdover';
const AUDIENCE = 'holdover-chat';
const KEY_LABEL = 'holdover chat token key v1';

/** The chat has ended (its visitor was quiet past the idle time): 410, start a new chat. */
export class ChatEndedError extends DomainError {
  readonly status = 410;
  readonly code = 'chat_ended';
  override readonly name = 'ChatEndedError';
}

export interface ChatPolicy {
  /** The domain of the visitor AORs (the first served domain). */
  visitorDomain: string;
  /** A chat whose visitor was neither seen nor heard this long has ended. */
  idleMs: number;
  /** How long a chat token (and so the visitor's part of a chat) lives. */
  lifetimeMs: number;
  /** How long a chat and its lines are kept after it began (answers to it are recorded until then). */
  retainMs: number;
}

/** What starting a chat needs: whether the target is public (as availability tells it), the token key. */
export interface StartChatDeps {
  chats: ChatStore;
  groups: GroupStore;
  users: UserStore;
  policy: ChatPolicy;
  secrets: readonly string[];
  now: () => number;
}

/** What a visitor's line needs: the chat, and capture to send it as a MESSAGE. */
export interface ChatDeps {
  chats: ChatStore;
  /** Captures the visitor's lines as MESSAGEs (to a user, or to a group and its routing). */
  capture: CaptureDeps;
  policy: ChatPolicy;
  now: () => number;
  newId: () => string;
}

// --- the visitor AOR ----------------------------------------------------------------------------

export function newChatId(): string {
  return [...randomBytes(26)].map((byte) => BASE32[byte & 31]).join('');
}

export function visitorAorOf(chatId: string, domain: string): string {
  return `sip:chat-${chatId}@${domain}`;
}

/** The chat id of a visitor AOR (normalised), or undefined for any other address. */
export function chatIdOfVisitor(aor: string): string | undefined {
  return VISITOR_USER.exec(aor)?.[1];
}

export function isChatId(text: string): boolean {
  return CHAT_ID.test(text);
}

/** The Call-ID of a visitor line's MESSAGE, from which a delivered message names its line. */
export function chatCallId(chatId: string, lineId: string): string {
  return `${lineId}.${chatId}@chat.holdover`;
}

/** The chat line a held message carries, if it is a visitor's line (its sender and Call-ID say so). */
export function chatLineOf(
  message: Pick<HeldMessage, 'sender' | 'callId'>,
): { chatId: string; lineId: string } | undefined {
  const chatId = chatIdOfVisitor(message.sender);
  const match = /^([0-9A-Z]{26})\.([a-z2-7]{26})@chat\.holdover$/.exec(message.callId);
  if (chatId === undefined || match === null || match[2] !== chatId) return undefined;
  return { chatId, lineId: match[1] as string };
}

// --- the chat token -------------------------------------------------------------------------------

function chatTokenKey(secret: string): Uint8Array {
  return new Uint8Array(createHmac('sha256', secret).update(KEY_LABEL).digest());
}

/**
 * A token for one chat only: its own key (derived from the signing secret with another label than
 * people's tokens) and audience, so it opens no user route, and a user's token opens no chat.
 */
export async function mintChatToken(
  secrets: readonly string[],
  chatId: string,
  nowMs: number,
  lifetimeMs: number,
): Promise<{ token: string; expiresAt: string }> {
  const [signing] = secrets;
  if (signing === undefined) throw new Error('no signing secret to derive the chat token key from');
  const issuedAt = Math.floor(nowMs / 1000);
  const expiresAt = issuedAt + Math.floor(lifetimeMs / 1000);
  const token = await new SignJWT({ scope: 'chat' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(chatId)
    .setJti(randomUUID())
    .setIssuedAt(issuedAt)
    .setExpirationTime(expiresAt)
    .sign(chatTokenKey(signing));
  return { token, expiresAt: new Date(expiresAt * 1000).toISOString() };
}

/** The chat a token is for; refused (401) when it is not a valid chat token of this system. */
export function verifyChatToken(
  secrets: readonly string[],
  token: string,
  nowMs: number,
): Promise<{ chatId: string; expiresAtMs: number }> {
  return verifySigned(
    token,
    secrets,
    chatTokenKey,
    { audience: AUDIENCE, requiredClaims: ['sub', 'exp'], nowMs },
    {
      expired: 'This chat has expired: start a new one',
      malformed: 'This is not a chat token: start a chat first',
      mismatch: 'This is not a chat token of this system: start a chat first',
    },
    (payload) => {
      const chatId = payload.sub ?? '';
      if (payload.scope !== 'chat' || !isChatId(chatId) || payload.exp === undefined) {
        throw new TokenRefusedError('malformed', 'This is not a chat token: start a chat first');
      }
      return { chatId, expiresAtMs: payload.exp * 1000 };
    },
  );
}

// --- what a visitor sends ----------------------------------------------------------------------------

// biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g;

/** A name fit for a SIP display name and a page: one line, no quotes or brackets, bounded. */
export function visitorName(text: string): string {
  const name = text
    .replace(CONTROLS, ' ')
    .replace(/[\r\n\t"\\<>]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, MAX_NAME_CHARS)
    .trim();
  return name === '' ? 'Visitor' : name;
}

export const StartChatSchema = z.strictObject({
  to: z.string().check(z.minLength(1, 'say whom to chat with (a SIP address)'), z.maxLength(256)),
  name: z.string().check(z.trim(), z.minLength(1, 'enter your name'), z.maxLength(200)),
  email: z.optional(z.email({ message: 'must be an email address' }).check(z.maxLength(254))),
});
export type StartChat = z.infer<typeof StartChatSchema>;

export const ChatTextSchema = z.strictObject({
  text: z.pipe(
    z.pipe(
      z.string(),
      z.transform((text) => text.replace(/\r\n?/g, '\n').replace(CONTROLS, '').trim()),
    ),
    z
      .string()
      .check(
        z.minLength(1, 'write something'),
        z.maxLength(MAX_TEXT_CHARS, `at most ${MAX_TEXT_CHARS} characters per line`),
      ),
  ),
});

/** What the page gets: the conversation and a cursor that changes with any line or state. */
export interface ChatView {
  chatId: string;
  to: string;
  visitor: string;
  /** `open` while the visitor is around; `ended` once quiet past the idle time. */
  status: 'open' | 'ended';
  lines: ChatLine[];
  cursor: string;
}

function ended(chat: Chat, policy: ChatPolicy, nowMs: number): boolean {
  return (
    nowMs - Date.parse(chat.seenAt) > policy.idleMs || nowMs >= Date.parse(chat.createdAt) + policy.lifetimeMs
  );
}

export function viewOf(chat: Chat, lines: ChatLine[], policy: ChatPolicy, nowMs: number): ChatView {
  const ordered = [...lines].sort((a, b) => a.at.localeCompare(b.at) || a.id.localeCompare(b.id));
  const cursor = createHash('sha256')
    .update(ordered.map((line) => `${line.id}:${line.state}`).join('\n'))
    .update(ended(chat, policy, nowMs) ? '\nended' : '')
    .digest('base64url')
    .slice(0, 22);
  return {
    chatId: chat.id,
    to: chat.to,
    visitor: chat.visitor,
    status: ended(chat, policy, nowMs) ? 'ended' : 'open',
    lines: ordered,
    cursor,
  };
}

// --- as stored -----------------------------------------------------------------------------------

const StoredChatSchema = z.object({
  id: z.string(),
  to: z.string(),
  visitor: z.string(),
  name: z.string(),
  email: z.optional(z.string()),
  createdAt: z.string(),
  seenAt: z.string(),
  expiresAt: z.string(),
});

const StoredLineSchema = z.object({
  id: z.string(),
  from: z.string(),
  name: z.optional(z.string()),
  at: z.string(),
  text: z.string(),
  state: z.enum(['held', 'delivered']),
});

/** A chat as an adapter stored it (a DynamoDB item, a SQLite row's JSON), checked. */
export function parseStoredChat(value: unknown): Chat {
  const { email, ...rest } = StoredChatSchema.parse(value);
  return { ...rest, ...(email !== undefined ? { email } : {}) };
}

export function parseStoredLine(value: unknown): ChatLine {
  const { name, ...rest } = StoredLineSchema.parse(value);
  return { ...rest, ...(name !== undefined ? { name } : {}) };
}

// --- use cases --------------------------------------------------------------------------------------

/**
 * Starts a chat with a public user or group. Anything else (unknown, or not public) is refused
 * with the very same 404, so nobody can probe who exists. A target that is away is fine: the
 * visitor's lines are then held, as any MESSAGE is.
 */
export async function startChat(
  input: StartChat,
  deps: StartChatDeps,
): Promise<{ chatId: string; token: string; visitor: string; expiresAt: string; status: string }> {
  const nowMs = deps.now();
  const target = await lookUpAvailability(input.to, deps, nowMs);
  if (target.kind === undefined) throw new NotFoundError('No public user or group has this address');
  const chatId = newChatId();
  const visitor = visitorAorOf(chatId, deps.policy.visitorDomain);
  const at = new Date(nowMs).toISOString();
  await deps.chats.createChat({
    id: chatId,
    to: target.aor,
    visitor,
    name: visitorName(input.name),
    ...(input.email ? { email: input.email } : {}),
    createdAt: at,
    seenAt: at,
    expiresAt: new Date(nowMs + deps.policy.retainMs).toISOString(),
  });
  const { token, expiresAt } = await mintChatToken(deps.secrets, chatId, nowMs, deps.policy.lifetimeMs);
  return { chatId, token, visitor, expiresAt, status: target.status };
}

async function chatOf(chatId: string, deps: Pick<ChatDeps, 'chats'>) {
  const found = await deps.chats.getChat(chatId);
  if (found === undefined) throw new NotFoundError('This chat is not known (or is over): start a new one');
  return found;
}

/**
 * The visitor's line: recorded as `held`, then captured as a MESSAGE From the visitor AOR to the
 * chat's user or group (a queue picks a member, and keeps the conversation with them: the visitor
 * AOR is the sender it remembers). The delivery run marks it `delivered` (markChatLinesDelivered).
 * If the capture is refused (quota), the line is taken back and the refusal answered.
 */
export async function postLine(chatId: string, text: string, deps: ChatDeps): Promise<ChatLine> {
  const { chat, lines } = await chatOf(chatId, deps);
  const nowMs = deps.now();
  if (ended(chat, deps.policy, nowMs)) {
    throw new ChatEndedError('This chat has ended: start a new one to write again');
  }
  if (lines.length >= MAX_LINES) {
    throw new QuotaExceededError(`A chat keeps at most ${MAX_LINES} lines: start a new one`);
  }
  const line: ChatLine = {
    id: deps.newId(),
    from: chat.visitor,
    name: chat.name,
    at: new Date(nowMs).toISOString(),
    text,
    state: 'held',
  };
  await deps.chats.addLine(chatId, line, chat.expiresAt);
  const message: CapturedMessage = {
    callId: chatCallId(chatId, line.id),
    cseq: 1,
    from: chat.visitor,
    fromName: chat.name,
    to: chat.to,
    contentType: 'text/plain;charset=utf-8',
    body: new TextEncoder().encode(text),
    receivedAt: line.at,
    // the visitor cannot be told automatically (no offline notice, no auto-reply to a web page)
    autoSubmitted: true,
  };
  try {
    await captureMessage(message, deps.capture);
  } catch (error) {
    await deps.chats.removeLine(chatId, line.id).catch(() => undefined);
    throw error;
  }
  await deps.chats.touchChat(chatId, line.at);
  return line;
}

/** Seen at most this often (a poll a second must not write a second), and well within the idle time. */
const TOUCH_EVERY_MS = 30_000;

/**
 * The conversation for the page's long poll: answered at once if its cursor differs from `after`
 * (something new, or a state changed), else once it does, or after `waitMs` at the latest.
 * Reading counts as the visitor being there: the chat does not end while the page polls.
 */
export async function readChat(
  chatId: string,
  after: string | undefined,
  waitMs: number,
  deps: Pick<ChatDeps, 'chats' | 'policy' | 'now'> & {
    sleep: (ms: number) => Promise<void>;
    pollMs?: number;
  },
): Promise<ChatView> {
  const deadline = deps.now() + waitMs;
  const touchEvery = Math.min(TOUCH_EVERY_MS, deps.policy.idleMs / 4);
  for (;;) {
    let { chat, lines } = await chatOf(chatId, deps);
    const nowMs = deps.now();
    if (!ended(chat, deps.policy, nowMs) && nowMs - Date.parse(chat.seenAt) > touchEvery) {
      const seenAt = new Date(nowMs).toISOString();
      await deps.chats.touchChat(chatId, seenAt);
      chat = { ...chat, seenAt };
    }
    const view = viewOf(chat, lines, deps.policy, nowMs);
    if (view.cursor !== after || nowMs >= deadline) return view;
    await deps.sleep(Math.min(deps.pollMs ?? 500, Math.max(0, deadline - nowMs)));
  }
}

/**
 * A MESSAGE to a visitor AOR (a member's answer): it joins the chat, never held for a person.
 * A retransmission adds nothing (the line's id comes from Call-ID and CSeq). While the visitor is
 * around the answer is theirs at once (200); once the chat ended, an answer is recorded, and if
 * the visitor left an email address it is also held for the visitor AOR with its time already
 * up, so the sweeper's next run emails it to them in the usual digest (202).
 */
export async function answerChat(
  chatId: string,
  message: CapturedMessage,
  text: string,
  sender: string,
  deps: Pick<CaptureDeps, 'store' | 'policy' | 'now' | 'newId'> & {
    chats: ChatStore;
    chatPolicy: ChatPolicy;
  },
): Promise<CaptureResult | { status: 'chat'; chatId: string; lineId: string }> {
  const found = await deps.chats.getChat(chatId);
  if (found === undefined) throw new NotFoundError('No chat has this address (it is over, or never was)');
  const { chat, lines } = found;
  const nowMs = deps.now();
  const key = dedupeKey('call', message.callId, String(message.cseq));
  const lineId = `a${key.slice(5, 30)}`;
  if (lines.some((line) => line.id === lineId)) return { status: 'chat', chatId, lineId };
  if (lines.length >= MAX_LINES * 2) {
    throw new QuotaExceededError(`This chat already has ${lines.length} lines`);
  }
  const gone = ended(chat, deps.chatPolicy, nowMs);
  const at = new Date(nowMs).toISOString();
  await deps.chats.addLine(
    chatId,
    {
      id: lineId,
      from: sender,
      ...(message.fromName ? { name: visitorName(message.fromName) } : {}),
      at,
      text: text
        .replace(/\r\n?/g, '\n')
        .replace(CONTROLS, '')
        .trim()
        .slice(0, MAX_TEXT_CHARS * 4),
      state: gone ? 'held' : 'delivered',
    },
    chat.expiresAt,
  );
  if (!gone || chat.email === undefined) return { status: 'chat', chatId, lineId };
  const held: HeldMessage = {
    id: deps.newId(nowMs),
    recipient: chat.visitor,
    sender,
    senderUri: message.from,
    ...(message.fromName ? { senderName: message.fromName } : {}),
    callId: message.callId,
    cseq: message.cseq,
    contentType: message.contentType,
    body: message.body,
    receivedAt: at,
    expiresAt: at,
    state: 'pending',
  };
  const outcome = await deps.store.hold(held, { dedupeKeys: [key], quota: deps.policy.quota });
  if (outcome.outcome === 'quota') throw new QuotaExceededError('Too many answers wait for this visitor');
  return outcome.outcome === 'duplicate'
    ? { status: 'duplicate', id: outcome.id, expiresAt: outcome.expiresAt }
    : { status: 'held', id: held.id, expiresAt: held.expiresAt };
}

/** Delivered held messages that are visitor lines: their lines become `delivered`. */
export async function markChatLinesDelivered(messages: HeldMessage[], chats: ChatStore): Promise<void> {
  await Promise.all(
    messages.flatMap((message) => {
      const line = chatLineOf(message);
      return line ? [chats.setLineState(line.chatId, line.lineId, 'delivered')] : [];
    }),
  );
}
