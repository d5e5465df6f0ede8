// The ChatStore port's contract, run unchanged against the in-memory fake, SQLite and DynamoDB
// Local: a chat stored and read back with its lines, a line added once, its state set, a line
// taken back, the visitor's last sighting, and a chat past its time read as absent.
import { describe, expect, it } from 'vitest';
import { newChatId, visitorAorOf } from '../../functions/core/chat.ts';
import type { Chat, ChatLine, ChatStore } from '../../functions/core/ports.ts';

export function describeChatStoreContract(
  name: string,
  make: (now: () => number) => Promise<ChatStore>,
): void {
  describe(`ChatStore contract: ${name}`, () => {
    let clock = Date.now();
    const now = () => clock;
    const chatOf = (overrides: Partial<Chat> = {}): Chat => {
      const id = newChatId();
      const at = new Date(clock).toISOString();
      return {
        id,
        to: 'sip:support@example.com',
        visitor: visitorAorOf(id, 'example.com'),
        name: 'Ann <"visitor">',
        email: 'ann@example.org',
        createdAt: at,
        seenAt: at,
        expiresAt: new Date(clock + 3_600_000).toISOString(),
        ...overrides,
      };
    };
    const lineOf = (id: string, overrides: Partial<ChatLine> = {}): ChatLine => ({
      id,
      from: 'sip:chat-x@example.com',
      name: 'Ann',
      at: new Date(clock).toISOString(),
      text: 'hello <b>there</b> ✓',
      state: 'held',
      ...overrides,
    });

    it('stores a chat and reads it back with its lines; an unknown chat is undefined', async () => {
      const chats = await make(now);
      const chat = chatOf();
      await chats.createChat(chat);
      expect(await chats.getChat(chat.id)).toEqual({ chat, lines: [] });
      expect(await chats.getChat(newChatId())).toBeUndefined();
      const { email: _email, ...withoutEmail } = chatOf();
      await chats.createChat(withoutEmail);
      expect((await chats.getChat(withoutEmail.id))?.chat).toEqual(withoutEmail);
      await expect(chats.createChat(chat)).rejects.toThrow();
    });

    it('adds a line once, sets its state, and takes a line back', async () => {
      const chats = await make(now);
      const chat = chatOf();
      await chats.createChat(chat);
      const first = lineOf('01JCHATLINE000000000000001');
      const { name: _name, ...answer } = lineOf('a-answer-1', {
        from: 'sip:bob@example.com',
        state: 'delivered',
      });
      expect(await chats.addLine(chat.id, first, chat.expiresAt)).toBe(true);
      expect(await chats.addLine(chat.id, { ...first, text: 'again' }, chat.expiresAt)).toBe(false);
      expect(await chats.addLine(chat.id, answer, chat.expiresAt)).toBe(true);
      const read = await chats.getChat(chat.id);
      expect(read?.lines.sort((a, b) => a.id.localeCompare(b.id))).toEqual([first, answer]);
      expect(await chats.setLineState(chat.id, first.id, 'delivered')).toBe(true);
      expect(await chats.setLineState(chat.id, 'no-such-line', 'delivered')).toBe(false);
      await chats.removeLine(chat.id, answer.id);
      expect((await chats.getChat(chat.id))?.lines).toEqual([{ ...first, state: 'delivered' }]);
    });

    it('records when the visitor was last seen, never back in time', async () => {
      const chats = await make(now);
      const chat = chatOf();
      await chats.createChat(chat);
      const later = new Date(clock + 60_000).toISOString();
      await chats.touchChat(chat.id, later);
      await chats.touchChat(chat.id, chat.createdAt);
      expect((await chats.getChat(chat.id))?.chat.seenAt).toBe(later);
      await chats.touchChat(newChatId(), later); // a chat that is not there: nothing happens
    });

    it('reads a chat past its time as absent, lines and all', async () => {
      const chats = await make(now);
      const chat = chatOf({ expiresAt: new Date(clock + 5_000).toISOString() });
      await chats.createChat(chat);
      await chats.addLine(chat.id, lineOf('01JCHATLINE000000000000002'), chat.expiresAt);
      expect(await chats.getChat(chat.id)).toBeDefined();
      clock += 10_000;
      expect(await chats.getChat(chat.id)).toBeUndefined();
      expect(await chats.setLineState(chat.id, '01JCHATLINE000000000000002', 'delivered')).toBe(false);
    });
  });
}
