// Click-to-chat, the core on in-memory fakes: the visitor AOR and its parsing, the chat token's
// scope (no user route takes it, no user token opens a chat), the visitor's name and text, a
// queue's stickiness for a chat, a delivered line, a member's answer (joins, never held for a
// person; after the end held for email), and the long poll's cursor.
import { describe, expect, it } from 'vitest';
import type { CaptureDeps } from '../../functions/core/capture.ts';
import { captureMessage } from '../../functions/core/capture.ts';
import {
  answerChat,
  type ChatDeps,
  ChatEndedError,
  type ChatPolicy,
  ChatTextSchema,
  chatCallId,
  chatIdOfVisitor,
  chatLineOf,
  markChatLinesDelivered,
  mintChatToken,
  newChatId,
  postLine,
  readChat,
  type StartChatDeps,
  StartChatSchema,
  startChat,
  verifyChatToken,
  visitorAorOf,
  visitorName,
} from '../../functions/core/chat.ts';
import { emailExpired } from '../../functions/core/expiry.ts';
import { validateGroup } from '../../functions/core/groups.ts';
import { updatePresence } from '../../functions/core/presence.ts';
import { mintToken, verifyToken } from '../../functions/core/session.ts';
import { NotFoundError } from '../../shared/errors.ts';
import { MemoryChatStore, MemoryGroupStore, MemoryQueue, MemoryStore } from '../fakes/memory-store.ts';

const START = Date.parse('2026-11-21T12:00:00Z');
const DOMAINS = new Set(['example.com']);
const SECRETS = ['chat-test-secret'];
const A = 'sip:ann@example.com';
const B = 'sip:ben@example.com';
const SUPPORT = 'sip:support@example.com';
const POLICY: ChatPolicy = {
  visitorDomain: 'example.com',
  idleMs: 10 * 60_000,
  lifetimeMs: 2 * 3_600_000,
  retainMs: 7 * 86_400_000,
};

describe('the visitor AOR', () => {
  it('is sip:chat-<26 base32>@<domain>, and only such an address names a chat', () => {
    const id = newChatId();
    expect(id).toMatch(/^[a-z2-7]{26}$/);
    expect(newChatId()).not.toBe(id);
    const visitor = visitorAorOf(id, 'example.com');
    expect(visitor).toBe(`sip:chat-${id}@example.com`);
    expect(chatIdOfVisitor(visitor)).toBe(id);
    for (const other of [
      'sip:chat@example.com',
      `sip:chat-${id.slice(1)}@example.com`,
      `sip:chat-${id.toUpperCase()}@example.com`,
      `sip:xchat-${id}@example.com`,
      `sip:chat-${id}x@example.com`,
      `sip:chat-${id.slice(0, 25)}1@example.com`,
      'sip:bob@example.com',
    ]) {
      expect(chatIdOfVisitor(other), other).toBeUndefined();
    }
  });

  it("names a visitor line by its Call-ID and sender, and nothing else's", () => {
    const id = newChatId();
    const sender = visitorAorOf(id, 'example.com');
    const lineId = '01JD0000000000000000000000';
    expect(chatLineOf({ sender, callId: chatCallId(id, lineId) })).toEqual({ chatId: id, lineId });
    // another chat's Call-ID, or a person's message, are no line of this chat
    expect(chatLineOf({ sender, callId: chatCallId(newChatId(), lineId) })).toBeUndefined();
    expect(chatLineOf({ sender: A, callId: chatCallId(id, lineId) })).toBeUndefined();
    expect(chatLineOf({ sender, callId: 'abc@host' })).toBeUndefined();
  });
});

describe('the chat token', () => {
  it('opens its chat only: a user route refuses it, and a user token is no chat token', async () => {
    const id = newChatId();
    const { token } = await mintChatToken(SECRETS, id, START, POLICY.lifetimeMs);
    expect(await verifyChatToken(SECRETS, token, START)).toEqual({
      chatId: id,
      expiresAtMs: START + POLICY.lifetimeMs,
    });
    await expect(verifyToken(SECRETS, token, START)).rejects.toMatchObject({ status: 401 });
    const user = await mintToken(SECRETS, { aor: A, role: 'admin' }, START);
    await expect(verifyChatToken(SECRETS, user.token, START)).rejects.toMatchObject({
      status: 401,
      reason: 'mismatch',
    });
  });

  it('expires, and is refused by another system (another secret); a rotated secret still verifies', async () => {
    const { token } = await mintChatToken(SECRETS, newChatId(), START, 60_000);
    await expect(verifyChatToken(SECRETS, token, START + 61_000)).rejects.toMatchObject({
      reason: 'expired',
    });
    await expect(verifyChatToken(['other'], token, START)).rejects.toMatchObject({ reason: 'mismatch' });
    await expect(verifyChatToken(['new', ...SECRETS], token, START)).resolves.toBeDefined();
  });
});

describe('what a visitor sends', () => {
  it('a name fit for a SIP display name: one line, no quotes, brackets or controls, bounded', () => {
    expect(visitorName('Ann "the visitor" <ann>')).toBe('Ann the visitor ann');
    expect(visitorName('Eve\r\nVia: evil\u0000')).toBe('Eve Via: evil');
    expect(visitorName('   ')).toBe('Visitor');
    expect(visitorName('x'.repeat(500))).toHaveLength(64);
  });

  it('text only, trimmed, at most 2000 characters; unknown fields refused', () => {
    expect(ChatTextSchema.parse({ text: ' hi\r\nthere\u0007 ' })).toEqual({ text: 'hi\nthere' });
    expect(ChatTextSchema.safeParse({ text: ' \n ' }).success).toBe(false);
    expect(ChatTextSchema.safeParse({ text: 'x'.repeat(2001) }).success).toBe(false);
    expect(ChatTextSchema.safeParse({ text: 'x', html: '<b>' }).success).toBe(false);
    expect(StartChatSchema.safeParse({ to: SUPPORT, name: 'Ann', email: 'not-mail' }).success).toBe(false);
  });
});

// --- use cases ---------------------------------------------------------------------------------

function system() {
  let clock = START;
  const now = () => clock;
  const store = new MemoryStore();
  store.now = now;
  const groups = new MemoryGroupStore();
  const queue = new MemoryQueue();
  const chats = new MemoryChatStore(now);
  let sequence = 0;
  const capture: CaptureDeps = {
    store,
    users: store,
    queue,
    groups,
    chats: { store: chats, policy: POLICY },
    policy: { domains: DOMAINS, defaultExpireAfterMs: 72 * 3_600_000, maxBodyBytes: 65_536, quota: 50 },
    now,
    newId: () => `id-${String(++sequence).padStart(3, '0')}`,
  };
  let lines = 0;
  const deps: ChatDeps & StartChatDeps = {
    chats,
    capture,
    groups,
    users: store,
    policy: POLICY,
    secrets: SECRETS,
    now,
    newId: () => `01JD${String(++lines).padStart(22, '0')}`,
  };
  const goOnline = (aor: string) =>
    updatePresence(
      { aor, state: 'online', source: 'register', contact: 'sip:u@127.0.0.1:5090', expires: 3600 },
      { users: store, queue, groups, now },
    );
  const advance = (ms: number) => {
    clock += ms;
  };
  return { store, groups, queue, chats, capture, deps, goOnline, advance, now };
}

describe('startChat', () => {
  it('only with a public user or group; anything else answers as unknown', async () => {
    const { store, groups, deps } = system();
    await groups.putGroup(
      validateGroup(SUPPORT, { members: [A], routing: 'one', public: true }, DOMAINS, START),
    );
    const chat = await startChat({ to: SUPPORT, name: 'Ann' }, deps);
    expect(chat).toMatchObject({ status: 'away', visitor: `sip:chat-${chat.chatId}@example.com` });
    await expect(verifyChatToken(SECRETS, chat.token, START)).resolves.toMatchObject({ chatId: chat.chatId });

    await groups.putGroup(
      validateGroup('sip:private@example.com', { members: [A], routing: 'one' }, DOMAINS, START),
    );
    await store.putSettings(B, { email: 'ben@example.com' });
    for (const to of ['sip:private@example.com', B, 'sip:nobody@example.com', 'not an address']) {
      const refused = await startChat({ to, name: 'Eve' }, deps).catch((error: unknown) => error);
      expect(refused, to).toBeInstanceOf(NotFoundError);
      expect((refused as Error).message).toBe('No public user or group has this address');
    }
  });
});

describe("a visitor's lines to a queue", () => {
  it('go to the available member idle longest, and the chat sticks to them', async () => {
    const { store, groups, deps, goOnline, advance } = system();
    await groups.putGroup(
      validateGroup(SUPPORT, { members: [A, B], routing: 'one', public: true }, DOMAINS, START),
    );
    await goOnline(A);
    await goOnline(B);
    // another sender made ann the most recently assigned
    await groups.recordAssignment(SUPPORT, A, 'sip:other@example.net', START);
    const chat = await startChat({ to: SUPPORT, name: 'Ann Visitor' }, deps);
    await postLine(chat.chatId, 'first', deps);
    advance(60_000);
    // ann is idle longest now; the chat still stays with ben
    await groups.recordAssignment(SUPPORT, A, 'sip:third@example.net', START - 1);
    await postLine(chat.chatId, 'second', deps);
    const held = store.messages.filter((message) => message.sender === chat.visitor);
    expect(held.map((message) => [message.recipient, message.senderName])).toEqual([
      [B, 'Ann Visitor'],
      [B, 'Ann Visitor'],
    ]);
    // a second chat is another sender: it goes to whoever is idle longest now
    const second = await startChat({ to: SUPPORT, name: 'Cat' }, deps);
    await postLine(second.chatId, 'hello', deps);
    expect(store.messages.find((message) => message.sender === second.visitor)?.recipient).toBe(A);
  });

  it('are held for the group while nobody is available, and become delivered with their message', async () => {
    const { store, groups, chats, deps } = system();
    await groups.putGroup(
      validateGroup(SUPPORT, { members: [A, B], routing: 'one', public: true }, DOMAINS, START),
    );
    const chat = await startChat({ to: SUPPORT, name: 'Ann' }, deps);
    const line = await postLine(chat.chatId, 'anyone?', deps);
    expect(line.state).toBe('held');
    const [held] = store.heldFor(SUPPORT);
    expect(held).toMatchObject({ sender: chat.visitor, callId: chatCallId(chat.chatId, line.id) });
    // the delivery run hands the delivered messages over: the line follows
    await markChatLinesDelivered(held ? [held] : [], chats);
    expect((await chats.getChat(chat.chatId))?.lines[0]?.state).toBe('delivered');
  });

  it('are refused once the chat ended, and taken back when the capture is refused', async () => {
    const { store, groups, chats, deps, capture, advance } = system();
    await groups.putGroup(
      validateGroup(SUPPORT, { members: [A], routing: 'one', public: true }, DOMAINS, START),
    );
    const chat = await startChat({ to: SUPPORT, name: 'Ann' }, deps);
    capture.policy.quota = store.heldFor(SUPPORT).length; // full
    await expect(postLine(chat.chatId, 'x', deps)).rejects.toMatchObject({ status: 429 });
    expect((await chats.getChat(chat.chatId))?.lines).toEqual([]);
    advance(POLICY.idleMs + 1);
    await expect(postLine(chat.chatId, 'late', deps)).rejects.toBeInstanceOf(ChatEndedError);
  });
});

describe("a member's MESSAGE to the visitor AOR", () => {
  const answer = (to: string, callId = 'answer-1@ua') => ({
    callId,
    cseq: 7,
    from: A,
    fromName: 'Ann "Support"',
    to,
    contentType: 'text/plain;charset=utf-8',
    body: Buffer.from('Yes!\r\n'),
  });

  it('joins the chat once (a retransmission adds nothing) and is held for nobody', async () => {
    const { store, deps, capture, chats } = system();
    await store.putSettings(A, { public: true });
    const chat = await startChat({ to: A, name: 'Vis' }, deps);
    const first = await captureMessage(answer(chat.visitor), capture);
    expect(first).toMatchObject({ status: 'chat', chatId: chat.chatId });
    expect(await captureMessage(answer(chat.visitor), capture)).toEqual(first);
    expect(store.messages).toEqual([]);
    const lines = (await chats.getChat(chat.chatId))?.lines ?? [];
    expect(lines).toEqual([
      expect.objectContaining({ from: A, name: 'Ann Support', text: 'Yes!', state: 'delivered' }),
    ]);
  });

  it('after the chat ended: recorded, and held for the visitor (due now) only if they left an address', async () => {
    const { store, deps, capture, chats, advance } = system();
    await store.putSettings(A, { public: true });
    const withEmail = await startChat({ to: A, name: 'Vis', email: 'vis@example.org' }, deps);
    const without = await startChat({ to: A, name: 'Anon' }, deps);
    advance(POLICY.idleMs + 1);
    const emailed = await captureMessage(answer(withEmail.visitor, 'a@ua'), capture);
    expect(emailed).toMatchObject({ status: 'held' });
    expect(store.heldFor(withEmail.visitor)).toEqual([
      expect.objectContaining({ sender: A, expiresAt: new Date(START + POLICY.idleMs + 1).toISOString() }),
    ]);
    expect(await captureMessage(answer(without.visitor, 'b@ua'), capture)).toMatchObject({ status: 'chat' });
    expect(store.heldFor(without.visitor)).toEqual([]);
    expect((await chats.getChat(without.chatId))?.lines.map((line) => line.state)).toEqual(['held']);
  });

  it("is emailed to the chat's address by the email step (escaped), or dropped once the chat is gone", async () => {
    const { store, deps, capture, chats, queue, now, advance } = system();
    await store.putSettings(A, { public: true });
    const chat = await startChat({ to: A, name: 'Vis', email: 'vis@example.org' }, deps);
    advance(POLICY.idleMs + 1);
    await captureMessage({ ...answer(chat.visitor), body: Buffer.from('<b>soon</b> & more') }, capture);
    const sent: Array<{ to: string; subject: string; html: string }> = [];
    const email = {
      users: store,
      store,
      mailer: {
        send: async (mail: { to: string; subject: string; html: string }) => {
          sent.push(mail);
          return 'mail-1';
        },
      },
      notices: queue,
      now,
      newId: () => 'n-1',
      chats,
    };
    const claim = async (recipient: string) => {
      const claimed = await store.claimForExpiry(await store.waiting(recipient), now(), now());
      return {
        recipient,
        reason: 'expired' as const,
        messages: claimed.map(({ id, receivedAt }) => ({ id, receivedAt })),
      };
    };
    expect(await emailExpired(await claim(chat.visitor), email)).toMatchObject({
      outcome: 'emailed',
      to: 'vis@example.org',
      count: 1,
    });
    expect(sent[0]?.subject).toBe(`Answers to your chat with ${A}`);
    expect(sent[0]?.html).toContain('&lt;b&gt;soon&lt;/b&gt; &amp; more');
    expect(store.heldFor(chat.visitor)).toEqual([]);
    // the chat is gone by the time its answer is due: nothing is mailed to chat-…@example.com
    const other = await startChat({ to: A, name: 'Vis', email: 'vis2@example.org' }, deps);
    advance(POLICY.idleMs + 1);
    await captureMessage(answer(other.visitor, 'late@ua'), capture);
    chats.chats.delete(other.chatId);
    expect(await emailExpired(await claim(other.visitor), email)).toMatchObject({ outcome: 'dropped' });
    expect(sent).toHaveLength(1);
  });

  it('to a visitor AOR without a chat is refused as unknown (404 at SIP)', async () => {
    const { capture } = system();
    await expect(
      captureMessage(answer(visitorAorOf(newChatId(), 'example.com')), capture),
    ).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      answerChat(newChatId(), answer('x'), 'x', A, {
        ...capture,
        chats: new MemoryChatStore(),
        chatPolicy: POLICY,
      }),
    ).rejects.toMatchObject({ status: 404 });
  });
});

describe('the long poll', () => {
  it('answers at once on a new cursor, waits while nothing changes, and sees a state change', async () => {
    const { store, deps, chats, now, advance } = system();
    await store.putSettings(A, { public: true });
    const chat = await startChat({ to: A, name: 'Vis' }, deps);
    const sleeps: number[] = [];
    const poll = {
      chats,
      policy: POLICY,
      now,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        advance(ms);
      },
    };
    const empty = await readChat(chat.chatId, undefined, 20_000, poll);
    expect(empty).toMatchObject({ status: 'open', lines: [] });
    expect(sleeps).toEqual([]);
    // nothing new: waits out the 20 s (in half-second steps) and answers the same cursor
    const same = await readChat(chat.chatId, empty.cursor, 20_000, poll);
    expect(same.cursor).toBe(empty.cursor);
    expect(sleeps.reduce((sum, ms) => sum + ms, 0)).toBe(20_000);
    const line = await postLine(chat.chatId, 'hi', deps);
    const withLine = await readChat(chat.chatId, same.cursor, 20_000, poll);
    expect(withLine.lines.map((l) => l.text)).toEqual(['hi']);
    await chats.setLineState(chat.chatId, line.id, 'delivered');
    const delivered = await readChat(chat.chatId, withLine.cursor, 20_000, poll);
    expect(delivered.cursor).not.toBe(withLine.cursor);
    // polling keeps the chat open far past the idle time
    expect(now() - START).toBeGreaterThan(0);
    advance(POLICY.idleMs - 1000);
    await readChat(chat.chatId, undefined, 0, poll);
    advance(POLICY.idleMs - 1000);
    expect((await readChat(chat.chatId, undefined, 0, poll)).status).toBe('open');
  });
});
