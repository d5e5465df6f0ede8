// The local work queues on the SQLite file (docs/design.md "Storage": locally the queues may be an
// adapter of the queue port on the embedded store): SQS's semantics where the handlers see them —
// a delay before a job is visible, a visibility timeout after each receive, the receive count, and
// after `maxReceiveCount` receives the move to the queue's dead-letter queue. Jobs survive a
// restart. Receives hand out SQS `Message`s, so the local poller builds the very SQS event AWS
// delivers and the handlers run unchanged.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Message } from '@aws-sdk/client-sqs';
import { groupCommitOf, type SqliteDb, writeTransaction } from './db.ts';

/** As the SQS queues: 180 s visibility, redrive to `<name>-dlq` after 10 receives, delay ≤ 900 s. */
export const VISIBILITY_TIMEOUT_MS = 180_000;
export const MAX_RECEIVE_COUNT = 10;
const MAX_DELAY_SECONDS = 900;

interface JobRow {
  seq: number;
  id: string;
  body: string;
  sent_at: number;
  receive_count: number;
  first_receive: number | null;
}

export function deadLetterQueueOf(queue: string): string {
  return `${queue}-dlq`;
}

export class SqliteJobs {
  /** Wakes a waiting receive when a job is sent (producers and pollers share the process). */
  private readonly sent = new EventEmitter();
  private readonly insert;
  private readonly visible;
  private readonly take;
  private readonly redrive;
  private readonly remove;
  private readonly hide;
  private readonly nextVisible;

  constructor(
    private readonly db: SqliteDb,
    private readonly now: () => number = Date.now,
    private readonly options = {
      visibilityTimeoutMs: VISIBILITY_TIMEOUT_MS,
      maxReceiveCount: MAX_RECEIVE_COUNT,
    },
  ) {
    this.sent.setMaxListeners(0);
    this.insert = db.prepare(
      'INSERT INTO jobs (queue, id, body, sent_at, visible_at) VALUES (@queue, @id, @body, @now, @visibleAt)',
    );
    this.visible = db.prepare(
      'SELECT * FROM jobs WHERE queue = @queue AND visible_at <= @now ORDER BY visible_at, seq LIMIT @max',
    );
    this.take = db.prepare(
      `UPDATE jobs SET receive_count = receive_count + 1, visible_at = @hiddenUntil, receipt = @receipt,
         first_receive = COALESCE(first_receive, @now)
       WHERE seq = @seq AND visible_at <= @now`,
    );
    this.redrive = db.prepare(
      `UPDATE jobs SET queue = @dlq, visible_at = @now, receive_count = 0, receipt = NULL, first_receive = NULL
       WHERE seq = @seq`,
    );
    this.remove = db.prepare('DELETE FROM jobs WHERE receipt = ?');
    this.hide = db.prepare('UPDATE jobs SET visible_at = @visibleAt WHERE receipt = @receipt');
    this.nextVisible = db.prepare('SELECT MIN(visible_at) FROM jobs WHERE queue = ?').pluck();
  }

  /** A producer of one queue (the DeliveryQueue and ExpiredQueue ports). */
  queue<Job>(name: string): { enqueue(job: Job, delaySeconds?: number): Promise<void> } {
    // committed with the other writes of this moment (group commit), and durable before it resolves
    return {
      enqueue: async (job, delaySeconds) => {
        await groupCommitOf(this.db).run(() => this.insertJob(name, JSON.stringify(job), delaySeconds));
        this.sent.emit(name);
      },
    };
  }

  send(queue: string, body: string, delaySeconds = 0): void {
    this.insertJob(queue, body, delaySeconds);
    this.sent.emit(queue);
  }

  private insertJob(queue: string, body: string, delaySeconds = 0): void {
    const now = this.now();
    const delayMs = Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil(delaySeconds))) * 1000;
    this.insert.run({ queue, id: randomUUID(), body, now, visibleAt: now + delayMs });
  }

  /**
   * Up to `max` visible jobs, each hidden for the visibility timeout and its receive counted; a
   * job received `maxReceiveCount` times already goes to the dead-letter queue instead. Waits up
   * to `waitMs` for one when none is visible (SQS long polling).
   */
  async receive(queue: string, max: number, waitMs = 0): Promise<Message[]> {
    const received = this.receiveNow(queue, max);
    if (received.length > 0 || waitMs <= 0) return received;
    const next = this.nextVisible.get(queue) as number | null;
    const until = Math.min(waitMs, next === null ? waitMs : Math.max(1, next - this.now()));
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.sent.off(queue, done);
        resolve();
      };
      const timer = setTimeout(done, until);
      this.sent.once(queue, done);
    });
    return this.receiveNow(queue, max);
  }

  private receiveNow(queue: string, max: number): Message[] {
    const now = this.now();
    return writeTransaction(this.db, () => {
      const messages: Message[] = [];
      for (const row of this.visible.all({ queue, now, max }) as JobRow[]) {
        if (row.receive_count >= this.options.maxReceiveCount) {
          this.redrive.run({ seq: row.seq, dlq: deadLetterQueueOf(queue), now });
          continue;
        }
        const receipt = randomUUID();
        const taken = this.take.run({
          seq: row.seq,
          now,
          receipt,
          hiddenUntil: now + this.options.visibilityTimeoutMs,
        });
        if (taken.changes === 0) continue;
        messages.push({
          MessageId: row.id,
          ReceiptHandle: receipt,
          Body: row.body,
          Attributes: {
            ApproximateReceiveCount: String(row.receive_count + 1),
            SentTimestamp: String(row.sent_at),
            ApproximateFirstReceiveTimestamp: String(row.first_receive ?? now),
            SenderId: 'local',
          },
        });
      }
      return messages;
    });
  }

  /** The job is done: gone (a stale receipt, after another receive took it, deletes nothing). */
  delete(receiptHandle: string): void {
    this.remove.run(receiptHandle);
  }

  /** The job comes back after `seconds` (a retry's backoff), as ChangeMessageVisibility. */
  changeVisibility(receiptHandle: string, seconds: number): void {
    this.hide.run({ receipt: receiptHandle, visibleAt: this.now() + Math.max(0, seconds) * 1000 });
  }

  /** Jobs in a queue, visible or not. */
  depth(queue: string): number {
    return this.db.prepare('SELECT COUNT(*) FROM jobs WHERE queue = ?').pluck().get(queue) as number;
  }
}
