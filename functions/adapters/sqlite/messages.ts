// Held messages on SQLite: the MessageStore port (hold with its dedupe markers and the quota in
// one transaction, the listing, statistics), and the row ↔ HeldMessage mapping the other entity
// files share. The held count is derived (a COUNT on the recipient's key range), never written.

import { HELD_STATES, type HeldState } from '../../../shared/contract/views.ts';
import type { BounceFacts, DeadFacts, HeldMessage } from '../../core/held-message.ts';
import type {
  HeldPage,
  HeldStats,
  HoldGuard,
  HoldOptions,
  HoldOutcome,
  MessageStore,
} from '../../core/ports.ts';
import { blob, type GroupCommit, groupCommitOf, Rollback, type SqliteDb } from './db.ts';

/** Held messages are pruned this long after they expire; the sweeper acts long before. */
export const GC_GRACE_MS = 7 * 86_400_000;

export interface MessageRow {
  recipient: string;
  received_at: string;
  id: string;
  state: string;
  expires_at: string;
  owner: string | null;
  claimed_at: number | null;
  body: Buffer;
  facts: string;
  bounce: string | null;
  dead: string | null;
}

/** What a message is apart from its key, state and body: kept as one JSON column. */
type Facts = Pick<
  HeldMessage,
  | 'sender'
  | 'senderUri'
  | 'senderName'
  | 'replyTo'
  | 'callId'
  | 'cseq'
  | 'contentType'
  | 'cpim'
  | 'subject'
  | 'alert'
>;

export function gcAtOf(expiresAt: string): number {
  return Date.parse(expiresAt) + GC_GRACE_MS;
}

export function messageFromRow(row: MessageRow): HeldMessage {
  const facts = JSON.parse(row.facts) as Facts;
  return {
    id: row.id,
    recipient: row.recipient,
    sender: facts.sender,
    senderUri: facts.senderUri,
    ...(facts.senderName !== undefined ? { senderName: facts.senderName } : {}),
    ...(facts.replyTo !== undefined ? { replyTo: facts.replyTo } : {}),
    callId: facts.callId,
    cseq: facts.cseq,
    contentType: facts.contentType,
    body: new Uint8Array(row.body),
    ...(facts.cpim !== undefined ? { cpim: facts.cpim } : {}),
    ...(facts.subject !== undefined ? { subject: facts.subject } : {}),
    ...(facts.alert !== undefined ? { alert: facts.alert } : {}),
    receivedAt: row.received_at,
    expiresAt: row.expires_at,
    state: row.state as HeldState,
    ...(row.owner !== null ? { owner: row.owner } : {}),
    ...(row.bounce !== null ? { bounce: JSON.parse(row.bounce) as BounceFacts } : {}),
    ...(row.dead !== null ? { dead: JSON.parse(row.dead) as DeadFacts } : {}),
  };
}

/** Live rows only: a row past its GC time is absent, whether or not the prune has run yet. */
export const LIVE = '(gc_at IS NULL OR gc_at >= @now)';
/** What counts against the quota (and MWI): everything held but dead letters. */
export const HELD_COUNT = `SELECT COUNT(*) FROM messages WHERE recipient = @recipient AND state <> 'dead' AND ${LIVE}`;

export class SqliteMessages implements MessageStore {
  private readonly claimKey;
  private readonly firstOf;
  private readonly insert;
  private readonly page;
  private readonly pageAfter;
  private readonly heldCount;
  private readonly group: GroupCommit;

  constructor(
    private readonly db: SqliteDb,
    private readonly now: () => number = Date.now,
  ) {
    // a marker past its time is taken over, as an absent one
    this.claimKey = db.prepare(
      `INSERT INTO dedupe (key, message_id, expires_at, gc_at) VALUES (@key, @id, @expiresAt, @gcAt)
       ON CONFLICT (key) DO UPDATE SET message_id = excluded.message_id, expires_at = excluded.expires_at,
         gc_at = excluded.gc_at WHERE dedupe.gc_at < @now`,
    );
    this.firstOf = db.prepare('SELECT message_id AS id, expires_at AS expiresAt FROM dedupe WHERE key = ?');
    // the quota is the insert's own condition
    this.insert = db.prepare(
      `INSERT INTO messages (recipient, received_at, id, state, expires_at, owner, claimed_at, body, facts, bounce, dead, gc_at)
       SELECT @recipient, @receivedAt, @id, @state, @expiresAt, NULL, NULL, @body, @facts, NULL, NULL, @gcAt
       WHERE (${HELD_COUNT}) < @quota`,
    );
    this.heldCount = db.prepare(HELD_COUNT).pluck();
    this.group = groupCommitOf(db);
    this.page = db.prepare(
      `SELECT * FROM messages WHERE recipient = @recipient AND ${LIVE}
       ORDER BY received_at, id LIMIT @limit`,
    );
    this.pageAfter = db.prepare(
      `SELECT * FROM messages WHERE recipient = @recipient AND ${LIVE} AND (received_at, id) > (@receivedAt, @id)
       ORDER BY received_at, id LIMIT @limit`,
    );
  }

  /**
   * Holds are committed in groups (db.ts GroupCommit): concurrent holds share one durable commit,
   * each in its own savepoint, so a duplicate or a full quota rolls back only its own writes.
   */
  async hold(message: HeldMessage, guard: HoldGuard, options: HoldOptions = {}): Promise<HoldOutcome> {
    // A synchronous write cannot be cut off midway: past the deadline it is not attempted.
    const pastDeadline = () => options.deadline !== undefined && this.now() >= options.deadline;
    if (pastDeadline()) throw new Error('the capture deadline passed before the store was written');
    try {
      return await this.group.run(() => {
        if (pastDeadline()) throw new Error('the capture deadline passed before the store was written');
        return this.holdOne(message, guard, this.now());
      });
    } catch (error) {
      if (error instanceof Rollback) return error.outcome as HoldOutcome;
      throw error;
    }
  }

  /** One hold, in its savepoint of the group's transaction: a Rollback undoes only it. */
  private holdOne(message: HeldMessage, guard: HoldGuard, now: number): HoldOutcome {
    {
      const gcAt = gcAtOf(message.expiresAt);
      for (const key of new Set(guard.dedupeKeys)) {
        const claimed = this.claimKey.run({ key, id: message.id, expiresAt: message.expiresAt, gcAt, now });
        if (claimed.changes === 0) {
          const first = this.firstOf.get(key) as { id: string; expiresAt: string };
          throw new Rollback<HoldOutcome>({ outcome: 'duplicate', ...first });
        }
      }
      const facts: Facts = {
        sender: message.sender,
        senderUri: message.senderUri,
        senderName: message.senderName,
        replyTo: message.replyTo,
        callId: message.callId,
        cseq: message.cseq,
        contentType: message.contentType,
        cpim: message.cpim,
        subject: message.subject,
        alert: message.alert,
      };
      const inserted = this.insert.run({
        recipient: message.recipient,
        receivedAt: message.receivedAt,
        id: message.id,
        state: message.state,
        expiresAt: message.expiresAt,
        body: blob(message.body),
        facts: JSON.stringify(facts),
        gcAt,
        now,
        quota: guard.quota,
      });
      if (inserted.changes === 0) {
        const held = this.heldCount.get({ recipient: message.recipient, now }) as number;
        throw new Rollback<HoldOutcome>({ outcome: 'quota', held });
      }
      return { outcome: 'held' };
    }
  }

  async listHeld(recipient: string, page: { limit?: number; after?: string } = {}): Promise<HeldPage> {
    const limit = page.limit ?? 100;
    const after = page.after === undefined ? undefined : decodeCursor(page.after);
    const params = { recipient, now: this.now(), limit: limit + 1, ...after };
    const rows = (after ? this.pageAfter.all(params) : this.page.all(params)) as MessageRow[];
    const messages = rows.slice(0, limit).map(messageFromRow);
    const last = messages.at(-1);
    return rows.length > limit && last
      ? { messages, next: encodeCursor({ receivedAt: last.receivedAt, id: last.id }) }
      : { messages };
  }

  async stats(): Promise<HeldStats> {
    const now = this.now();
    const byState = Object.fromEntries(HELD_STATES.map((state) => [state, 0])) as Record<HeldState, number>;
    const counts = this.db
      .prepare(`SELECT state, COUNT(*) AS count FROM messages WHERE ${LIVE} GROUP BY state`)
      .all({ now }) as Array<{ state: HeldState; count: number }>;
    for (const { state, count } of counts) if (state in byState) byState[state] = count;
    const summary = this.db
      .prepare(
        `SELECT COUNT(DISTINCT recipient) AS recipients, MIN(received_at) AS oldest FROM messages WHERE ${LIVE}`,
      )
      .get({ now }) as { recipients: number; oldest: string | null };
    return {
      byState,
      recipients: summary.recipients,
      ...(summary.oldest !== null ? { oldestReceivedAt: summary.oldest } : {}),
    };
  }
}

function encodeCursor(key: { receivedAt: string; id: string }): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): { receivedAt: string; id: string } {
  const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (
    typeof key !== 'object' ||
    key === null ||
    typeof (key as { receivedAt?: unknown }).receivedAt !== 'string' ||
    typeof (key as { id?: unknown }).id !== 'string'
  ) {
    throw new Error('malformed cursor');
  }
  return key as { receivedAt: string; id: string };
}
