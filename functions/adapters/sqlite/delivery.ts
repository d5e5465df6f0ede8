// Delivery on SQLite: the recipient's one lease (owner, heartbeat by renewal), the deliverable
// messages in order, and each state change with its condition in SQL: pending|delivering →
// delivering only under the live lease, delivering → deleted, delivering under its owner → pending.
// DeliveryStore port.
import type { HeldMessage, MessageRef } from '../../core/held-message.ts';
import { type DeliveryStore, LeaseLostError } from '../../core/ports.ts';
import { type GroupCommit, groupCommitOf, type SqliteDb } from './db.ts';
import { LIVE, type MessageRow, messageFromRow } from './messages.ts';

const KEY = 'recipient = @recipient AND received_at = @receivedAt AND id = @id';

export function keyOf(message: MessageRef): MessageRef {
  return { recipient: message.recipient, receivedAt: message.receivedAt, id: message.id };
}

export class SqliteDelivery implements DeliveryStore {
  private readonly group: GroupCommit;
  private readonly acquire;
  private readonly release;
  private readonly leaseHeld;
  private readonly first;
  private readonly next;
  private readonly mark;
  private readonly remove;
  private readonly unmark;

  constructor(
    db: SqliteDb,
    private readonly now: () => number = Date.now,
  ) {
    this.group = groupCommitOf(db);
    this.acquire = db.prepare(
      `INSERT INTO leases (recipient, owner, until) VALUES (@recipient, @owner, @until)
       ON CONFLICT (recipient) DO UPDATE SET owner = excluded.owner, until = excluded.until
         WHERE leases.owner = excluded.owner OR leases.until < @now`,
    );
    this.release = db.prepare('DELETE FROM leases WHERE recipient = @recipient AND owner = @owner');
    this.leaseHeld = db
      .prepare('SELECT 1 FROM leases WHERE recipient = @recipient AND owner = @owner AND until > @now')
      .pluck();
    const deliverable = `SELECT * FROM messages WHERE recipient = @recipient AND state IN ('pending', 'delivering') AND ${LIVE}`;
    this.first = db.prepare(`${deliverable} ORDER BY received_at, id LIMIT @limit`);
    this.next = db.prepare(
      `${deliverable} AND (received_at, id) > (@receivedAt, @id) ORDER BY received_at, id LIMIT @limit`,
    );
    this.mark = db.prepare(
      `UPDATE messages SET state = 'delivering', owner = @owner
       WHERE ${KEY} AND state IN ('pending', 'delivering')
         AND EXISTS (SELECT 1 FROM leases WHERE leases.recipient = @recipient AND owner = @owner AND until > @now)`,
    );
    this.remove = db.prepare(`DELETE FROM messages WHERE ${KEY} AND state = 'delivering'`);
    this.unmark = db.prepare(
      `UPDATE messages SET state = 'pending', owner = NULL WHERE ${KEY} AND state = 'delivering' AND owner = @owner`,
    );
  }

  async acquireLease(recipient: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    return (
      (await this.group.run(() => this.acquire.run({ recipient, owner, until: now + ttlMs, now }))).changes >
      0
    );
  }

  async releaseLease(recipient: string, owner: string): Promise<void> {
    await this.group.run(() => this.release.run({ recipient, owner }));
  }

  async deliverable(recipient: string, limit: number, after?: HeldMessage): Promise<HeldMessage[]> {
    const params = { recipient, limit, now: this.now() };
    const rows = (
      after
        ? this.next.all({ ...params, receivedAt: after.receivedAt, id: after.id })
        : this.first.all(params)
    ) as MessageRow[];
    return rows.map(messageFromRow);
  }

  async markDelivering(messages: HeldMessage[], owner: string): Promise<HeldMessage[]> {
    if (messages.length === 0) return [];
    const now = this.now();
    return this.group.run(() => {
      const recipient = messages[0]?.recipient ?? '';
      // only the holder of the live lease marks, so a message in flight under another run is
      // taken over only once that run's lease ran out
      if (this.leaseHeld.get({ recipient, owner, now }) === undefined) {
        throw new LeaseLostError(`the delivery lease is no longer held by ${owner}`);
      }
      return messages
        .filter((message) => this.mark.run({ ...keyOf(message), owner, now }).changes > 0)
        .map((message) => ({ ...message, state: 'delivering' as const, owner }));
    });
  }

  async removeDelivered(messages: HeldMessage[]): Promise<void> {
    await this.group.run(() => {
      for (const message of messages) this.remove.run(keyOf(message));
    });
  }

  async releaseToPending(messages: HeldMessage[], owner: string): Promise<void> {
    await this.group.run(() => {
      for (const message of messages) this.unmark.run({ ...keyOf(message), owner });
    });
  }
}
