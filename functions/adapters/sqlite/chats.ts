// Chats on SQLite (ChatStore port), the twin of functions/adapters/dynamodb/chats.ts: a chat as
// one JSON row, each line a row of its own (its state apart, so a delivery sets only that).
// Rows past expires_ms are absent to every read, and deleted by prune().
import { parseStoredChat, parseStoredLine } from '../../core/chat.ts';
import type { Chat, ChatLine, ChatLineState, ChatStore } from '../../core/ports.ts';
import type { SqliteDb } from './db.ts';

export class SqliteChats implements ChatStore {
  private readonly insertChat;
  private readonly readChat;
  private readonly readLines;
  private readonly insertLine;
  private readonly updateState;
  private readonly deleteLine;
  private readonly updateChat;

  constructor(
    private readonly db: SqliteDb,
    private readonly now: () => number = Date.now,
  ) {
    this.insertChat = db.prepare('INSERT INTO chats (id, body, expires_ms) VALUES (?, ?, ?)');
    this.readChat = db.prepare('SELECT body FROM chats WHERE id = ? AND expires_ms > ?');
    this.readLines = db.prepare('SELECT body, state FROM chat_lines WHERE chat_id = ? AND expires_ms > ?');
    this.insertLine = db.prepare(
      `INSERT INTO chat_lines (chat_id, id, body, state, expires_ms) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (chat_id, id) DO NOTHING`,
    );
    this.updateState = db.prepare(
      'UPDATE chat_lines SET state = ? WHERE chat_id = ? AND id = ? AND expires_ms > ?',
    );
    this.deleteLine = db.prepare('DELETE FROM chat_lines WHERE chat_id = ? AND id = ?');
    this.updateChat = db.prepare('UPDATE chats SET body = ? WHERE id = ? AND expires_ms > ?');
  }

  async createChat(chat: Chat): Promise<void> {
    this.insertChat.run(chat.id, JSON.stringify(chat), Date.parse(chat.expiresAt));
  }

  async getChat(chatId: string): Promise<{ chat: Chat; lines: ChatLine[] } | undefined> {
    const nowMs = this.now();
    const row = this.readChat.get(chatId, nowMs) as { body: string } | undefined;
    if (row === undefined) return undefined;
    const lines = (this.readLines.all(chatId, nowMs) as Array<{ body: string; state: string }>).map((line) =>
      parseStoredLine({ ...JSON.parse(line.body), state: line.state }),
    );
    return { chat: parseStoredChat(JSON.parse(row.body)), lines };
  }

  async addLine(chatId: string, line: ChatLine, expiresAt: string): Promise<boolean> {
    const { state, ...rest } = line;
    return (
      this.insertLine.run(chatId, line.id, JSON.stringify(rest), state, Date.parse(expiresAt)).changes > 0
    );
  }

  async setLineState(chatId: string, lineId: string, state: ChatLineState): Promise<boolean> {
    return this.updateState.run(state, chatId, lineId, this.now()).changes > 0;
  }

  async removeLine(chatId: string, lineId: string): Promise<void> {
    this.deleteLine.run(chatId, lineId);
  }

  async touchChat(chatId: string, seenAt: string): Promise<void> {
    // read and write in one immediate transaction: a concurrent touch cannot undo this one
    this.db
      .transaction(() => {
        const row = this.readChat.get(chatId, this.now()) as { body: string } | undefined;
        if (row === undefined) return;
        const chat = parseStoredChat(JSON.parse(row.body));
        if (chat.seenAt >= seenAt) return;
        this.updateChat.run(JSON.stringify({ ...chat, seenAt }), chatId, this.now());
      })
      .immediate();
  }

  /** Deletes chats and lines past their time; returns how many rows. */
  prune(nowMs = this.now()): number {
    return (
      this.db.prepare('DELETE FROM chat_lines WHERE expires_ms <= ?').run(nowMs).changes +
      this.db.prepare('DELETE FROM chats WHERE expires_ms <= ?').run(nowMs).changes
    );
  }
}
