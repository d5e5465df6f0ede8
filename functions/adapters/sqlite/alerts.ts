// Alerts from email on SQLite (AlertStore port), the twin of functions/adapters/dynamodb/alerts.ts:
// one row per alert (the record as JSON), opened with one conditional insert (its id comes from
// the group and the mail's Message-ID: the same mail is one alert); members' outcomes are merged
// in one write transaction. Rows past their retention are treated as absent, and pruned.
import {
  ALERT_RETENTION_MS,
  type AlertPage,
  type AlertRecord,
  type AlertStore,
  alertCursor,
  type MemberOutcome,
  mergeOutcomes,
  parseAlertCursor,
  parseStoredAlert,
} from '../../core/alerts.ts';
import { type SqliteDb, writeTransaction } from './db.ts';

export class SqliteAlerts implements AlertStore {
  private readonly insert;
  private readonly read;
  private readonly update;
  private readonly dispatched;

  constructor(
    private readonly db: SqliteDb,
    private readonly now: () => number = Date.now,
  ) {
    // a row past its time is taken over, as an absent one
    this.insert = db.prepare(
      `INSERT INTO alerts (id, group_aor, received_at, body, gc_at) VALUES (@id, @group, @receivedAt, @body, @gcAt)
       ON CONFLICT (id) DO UPDATE SET group_aor = excluded.group_aor, received_at = excluded.received_at,
         body = excluded.body, gc_at = excluded.gc_at WHERE alerts.gc_at < @now`,
    );
    this.read = db.prepare('SELECT body FROM alerts WHERE id = ? AND gc_at >= ?').pluck();
    this.update = db.prepare('UPDATE alerts SET body = ? WHERE id = ?');
    this.dispatched = db.prepare(
      `UPDATE alerts SET body = json_set(body, '$.dispatched', json('true')) WHERE id = ? AND gc_at >= ?`,
    );
  }

  async openAlert(alert: AlertRecord): Promise<{ opened: true } | { opened: false; existing: AlertRecord }> {
    return writeTransaction(this.db, () => {
      const now = this.now();
      const inserted = this.insert.run({
        id: alert.id,
        group: alert.group,
        receivedAt: alert.receivedAt,
        body: JSON.stringify(alert),
        gcAt: Date.parse(alert.receivedAt) + ALERT_RETENTION_MS,
        now,
      });
      if (inserted.changes > 0) return { opened: true } as const;
      return {
        opened: false,
        existing: parseStoredAlert(JSON.parse(this.read.get(alert.id, now) as string)),
      };
    });
  }

  async recordOutcomes(alertId: string, outcomes: MemberOutcome[]): Promise<void> {
    writeTransaction(this.db, () => {
      const body = this.read.get(alertId, this.now()) as string | undefined;
      if (body === undefined) return;
      const alert = parseStoredAlert(JSON.parse(body));
      this.update.run(JSON.stringify({ ...alert, members: mergeOutcomes(alert.members, outcomes) }), alertId);
    });
  }

  async markDispatched(alertId: string): Promise<void> {
    this.dispatched.run(alertId, this.now());
  }

  async getAlert(id: string): Promise<AlertRecord | undefined> {
    const body = this.read.get(id, this.now()) as string | undefined;
    return body === undefined ? undefined : parseStoredAlert(JSON.parse(body));
  }

  async listAlerts(page: { group?: string; limit?: number; after?: string } = {}): Promise<AlertPage> {
    const limit = page.limit ?? 100;
    const after = page.after ? parseAlertCursor(page.after) : undefined;
    const conditions = ['gc_at >= @now'];
    if (page.group !== undefined) conditions.push('group_aor = @group');
    if (after) conditions.push('(received_at, id) < (@receivedAt, @id)');
    const rows = this.db
      .prepare(
        `SELECT body FROM alerts WHERE ${conditions.join(' AND ')} ORDER BY received_at DESC, id DESC LIMIT @limit`,
      )
      .pluck()
      .all({
        now: this.now(),
        limit: limit + 1,
        ...(page.group !== undefined ? { group: page.group } : {}),
        ...(after ?? {}),
      }) as string[];
    const alerts = rows.slice(0, limit).map((body) => parseStoredAlert(JSON.parse(body)));
    const last = alerts.at(-1);
    return rows.length > limit && last ? { alerts, next: alertCursor(last) } : { alerts };
  }

  /** Deletes alerts past their retention; returns how many. */
  prune(nowMs = this.now()): number {
    return this.db.prepare('DELETE FROM alerts WHERE gc_at < ?').run(nowMs).changes;
  }
}
