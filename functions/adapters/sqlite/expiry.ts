// Expiry on SQLite: the due index is an index on expires_at over every message but dead letters
// (DynamoDB shards it over partitions; one file needs no shards, so shard 0 holds it all), the
// vacation index on settings, and the claims as conditional updates. ExpiryStore port.
import type { ExpiryEntry, ExpiryJob, ExpiryStore } from '../../core/expiry.ts';
import type { HeldMessage } from '../../core/held-message.ts';
import { type GroupCommit, groupCommitOf, type SqliteDb } from './db.ts';
import { LIVE, type MessageRow, messageFromRow } from './messages.ts';

const KEY = 'recipient = @recipient AND received_at = @receivedAt AND id = @id';
/** Index entries per page, as many as a DynamoDB Query page of the index. */
const DUE_PAGE = 500;

interface EntryRow {
  recipient: string;
  id: string;
  received_at: string;
  expires_at: string;
  state: string;
  claimed_at: number | null;
}

function entryOf(row: EntryRow): ExpiryEntry {
  return {
    recipient: row.recipient,
    id: row.id,
    receivedAt: row.received_at,
    expiresAt: row.expires_at,
    state: row.state,
    ...(row.claimed_at !== null ? { claimedAt: row.claimed_at } : {}),
  };
}

const ENTRY = 'recipient, id, received_at, expires_at, state, claimed_at';

export class SqliteExpiry implements ExpiryStore {
  private readonly group: GroupCommit;
  private readonly dueFirst;
  private readonly dueNext;
  private readonly earliest;
  private readonly vacationers;
  private readonly waitingOf;
  private readonly reclaimBounced;
  private readonly claim;
  private readonly read;
  private readonly remove;

  constructor(
    db: SqliteDb,
    private readonly now: () => number = Date.now,
  ) {
    this.group = groupCommitOf(db);
    const due = `SELECT ${ENTRY} FROM messages WHERE state <> 'dead' AND ${LIVE} AND expires_at <= @bound`;
    this.dueFirst = db.prepare(`${due} ORDER BY expires_at, id LIMIT ${DUE_PAGE + 1}`);
    this.dueNext = db.prepare(
      `${due} AND (expires_at, id) > (@expiresAt, @id) ORDER BY expires_at, id LIMIT ${DUE_PAGE + 1}`,
    );
    this.earliest = db
      .prepare(`SELECT MIN(expires_at) FROM messages WHERE state <> 'dead' AND ${LIVE}`)
      .pluck();
    this.vacationers = db.prepare('SELECT aor FROM settings WHERE vacation_until > ? ORDER BY aor').pluck();
    this.waitingOf = db.prepare(
      `SELECT ${ENTRY} FROM messages WHERE recipient = @recipient AND state IN ('pending', 'expiring') AND ${LIVE}
       ORDER BY received_at, id`,
    );
    // stays bounced, with a fresh claim: its notice is queued again
    this.reclaimBounced = db.prepare(
      `UPDATE messages SET claimed_at = @now WHERE ${KEY} AND state = 'bounced' AND claimed_at < @stale`,
    );
    this.claim = db.prepare(
      `UPDATE messages SET state = 'expiring', claimed_at = @now, owner = NULL
       WHERE ${KEY} AND (state = 'pending' OR (state = 'expiring' AND claimed_at < @stale)
         OR (state = 'delivering' AND NOT EXISTS (SELECT 1 FROM leases WHERE leases.recipient = messages.recipient
               AND leases.owner = messages.owner AND leases.until >= @now)))`,
    );
    this.read = db.prepare(
      `SELECT * FROM messages WHERE ${KEY} AND state IN ('expiring', 'bounced') AND ${LIVE}`,
    );
    this.remove = db.prepare(`DELETE FROM messages WHERE ${KEY} AND state = 'expiring'`);
  }

  async due(
    shard: number,
    nowIso: string,
    after?: unknown,
  ): Promise<{ entries: ExpiryEntry[]; next?: unknown }> {
    if (shard !== 0) return { entries: [] };
    const params = { bound: nowIso, now: this.now() };
    const cursor = after as { expiresAt: string; id: string } | undefined;
    const rows = (
      cursor ? this.dueNext.all({ ...params, ...cursor }) : this.dueFirst.all(params)
    ) as EntryRow[];
    const entries = rows.slice(0, DUE_PAGE).map(entryOf);
    const last = entries.at(-1);
    return rows.length > DUE_PAGE && last
      ? { entries, next: { expiresAt: last.expiresAt, id: last.id } }
      : { entries };
  }

  async earliestExpiry(shard: number): Promise<string | undefined> {
    if (shard !== 0) return undefined;
    return (this.earliest.get({ now: this.now() }) as string | null) ?? undefined;
  }

  async onVacation(nowIso: string): Promise<string[]> {
    return this.vacationers.all(nowIso) as string[];
  }

  async waiting(recipient: string): Promise<ExpiryEntry[]> {
    return (this.waitingOf.all({ recipient, now: this.now() }) as EntryRow[]).map(entryOf);
  }

  async claimForExpiry(entries: ExpiryEntry[], nowMs: number, staleBefore: number): Promise<ExpiryEntry[]> {
    return this.group.run(() =>
      entries.filter((entry) => {
        const key = { recipient: entry.recipient, receivedAt: entry.receivedAt, id: entry.id };
        const changed =
          entry.state === 'bounced'
            ? this.reclaimBounced.run({ ...key, now: nowMs, stale: staleBefore })
            : this.claim.run({ ...key, now: nowMs, stale: staleBefore });
        return changed.changes > 0;
      }),
    );
  }

  async expiring(recipient: string, refs: ExpiryJob['messages']): Promise<HeldMessage[]> {
    const now = this.now();
    return refs
      .map((ref) => this.read.get({ recipient, receivedAt: ref.receivedAt, id: ref.id, now }) as MessageRow)
      .filter((row) => row !== undefined)
      .map(messageFromRow)
      .sort((a, b) => a.receivedAt.localeCompare(b.receivedAt) || a.id.localeCompare(b.id));
  }

  async removeExpired(messages: HeldMessage[]): Promise<void> {
    await this.group.run(() => {
      for (const message of messages)
        this.remove.run({ recipient: message.recipient, receivedAt: message.receivedAt, id: message.id });
    });
  }
}
