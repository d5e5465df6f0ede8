// Bounces and dead letters on SQLite: delivering|expiring → bounced (kept until its notice settles
// it), bounced → deleted (the sender was told) or dead (kept, no longer held, never pruned), and
// the operator's listing and purge of dead letters. BounceStore port.
import type { BounceFacts, HeldMessage, MessageRef } from '../../core/held-message.ts';
import type { BounceStore, DeadPage } from '../../core/ports.ts';
import { type GroupCommit, groupCommitOf, type SqliteDb } from './db.ts';
import { type MessageRow, messageFromRow } from './messages.ts';

const KEY = 'recipient = @recipient AND received_at = @receivedAt AND id = @id';

export class SqliteBounces implements BounceStore {
  private readonly group: GroupCommit;
  private readonly bounce;
  private readonly told;
  private readonly die;
  private readonly deadFirst;
  private readonly deadNext;

  constructor(
    private readonly db: SqliteDb,
    private readonly now: () => number = Date.now,
  ) {
    this.group = groupCommitOf(db);
    // the bounce time is also its notice claim (the sweeper queues the notice again if unsettled)
    this.bounce = db.prepare(
      `UPDATE messages SET state = 'bounced', bounce = @bounce, claimed_at = @at, owner = NULL
       WHERE ${KEY} AND state = @from`,
    );
    this.told = db.prepare(`DELETE FROM messages WHERE ${KEY} AND state = 'bounced'`);
    // out of the expiry index, no longer held, and kept until an operator purges it
    this.die = db.prepare(
      `UPDATE messages SET state = 'dead', dead = @dead, gc_at = NULL WHERE ${KEY} AND state = 'bounced'`,
    );
    this.deadFirst = db.prepare(`SELECT * FROM messages WHERE state = 'dead' ORDER BY id LIMIT @limit`);
    this.deadNext = db.prepare(
      `SELECT * FROM messages WHERE state = 'dead' AND id > @after ORDER BY id LIMIT @limit`,
    );
  }

  async markBounced(
    bounces: Array<{ message: HeldMessage; bounce: BounceFacts }>,
    from: 'delivering' | 'expiring',
  ): Promise<HeldMessage[]> {
    return this.group.run(() =>
      bounces
        .filter(
          ({ message, bounce }) =>
            this.bounce.run({
              recipient: message.recipient,
              receivedAt: message.receivedAt,
              id: message.id,
              bounce: JSON.stringify(bounce),
              at: bounce.at,
              from,
            }).changes > 0,
        )
        .map(({ message, bounce }) => {
          const { owner: _owner, ...rest } = message;
          return { ...rest, state: 'bounced' as const, bounce };
        }),
    );
  }

  async settleBounce(
    ref: MessageRef,
    outcome: { told: true } | { failed: string },
  ): Promise<'removed' | 'dead' | 'absent'> {
    const key = { recipient: ref.recipient, receivedAt: ref.receivedAt, id: ref.id };
    if ('told' in outcome)
      return (await this.group.run(() => this.told.run(key))).changes > 0 ? 'removed' : 'absent';
    const dead = JSON.stringify({ reason: outcome.failed, at: this.now() });
    return (await this.group.run(() => this.die.run({ ...key, dead }))).changes > 0 ? 'dead' : 'absent';
  }

  async listDead(page: { limit?: number; after?: string } = {}): Promise<DeadPage> {
    const limit = page.limit ?? 100;
    const rows = (
      page.after === undefined
        ? this.deadFirst.all({ limit: limit + 1 })
        : this.deadNext.all({ limit: limit + 1, after: page.after })
    ) as MessageRow[];
    const messages = rows.slice(0, limit).map(messageFromRow);
    const last = messages.at(-1);
    return rows.length > limit && last ? { messages, next: last.id } : { messages };
  }

  async purgeDead(which: { id: string } | { all: true }): Promise<number> {
    const purged =
      'id' in which
        ? this.db.prepare(`DELETE FROM messages WHERE state = 'dead' AND id = ?`).run(which.id)
        : this.db.prepare(`DELETE FROM messages WHERE state = 'dead'`).run();
    return purged.changes;
  }
}
