// Sign-in attempts and revoked tokens on SQLite (the SessionStore port): an attempt replaces the
// AOR's record only if it is still what the attempt read, in one conditional statement; rows past
// their time are absent to every read and condition, and pruned.
import type { SessionStore, SignInRecord } from '../../core/session.ts';
import { type GroupCommit, groupCommitOf, type SqliteDb } from './db.ts';

export class SqliteSessions implements SessionStore {
  private readonly group: GroupCommit;
  private readonly read;
  private readonly insertFirst;
  private readonly replaceSeen;
  private readonly clear;
  private readonly revokeJti;
  private readonly revoked;

  constructor(db: SqliteDb) {
    this.group = groupCommitOf(db);
    this.read = db.prepare(
      'SELECT count, next_allowed_ms AS nextAllowedMs FROM sign_ins WHERE aor = ? AND keep_until >= ?',
    );
    // none read: only if there is none, or only one past its time
    this.insertFirst = db.prepare(
      `INSERT INTO sign_ins (aor, count, next_allowed_ms, keep_until) VALUES (@aor, @count, @next, @keep)
       ON CONFLICT (aor) DO UPDATE SET count = excluded.count, next_allowed_ms = excluded.next_allowed_ms,
         keep_until = excluded.keep_until WHERE sign_ins.keep_until < @now`,
    );
    this.replaceSeen = db.prepare(
      `UPDATE sign_ins SET count = @count, next_allowed_ms = @next, keep_until = @keep
       WHERE aor = @aor AND count = @seenCount AND next_allowed_ms = @seenNext AND keep_until >= @now`,
    );
    this.clear = db.prepare('DELETE FROM sign_ins WHERE aor = ?');
    this.revokeJti = db.prepare(
      'INSERT INTO revoked (jti, until) VALUES (@jti, @until) ON CONFLICT (jti) DO UPDATE SET until = excluded.until',
    );
    this.revoked = db.prepare('SELECT 1 FROM revoked WHERE jti = ? AND until >= ?').pluck();
  }

  async signInRecord(aor: string, nowMs: number): Promise<SignInRecord | undefined> {
    return (this.read.get(aor, nowMs) as SignInRecord | undefined) ?? undefined;
  }

  async claimAttempt(
    aor: string,
    seen: SignInRecord | undefined,
    next: SignInRecord,
    keepUntilMs: number,
    nowMs: number,
  ): Promise<boolean> {
    const row = { aor, count: next.count, next: next.nextAllowedMs, keep: keepUntilMs, now: nowMs };
    const written = await this.group.run(() =>
      seen
        ? this.replaceSeen.run({ ...row, seenCount: seen.count, seenNext: seen.nextAllowedMs })
        : this.insertFirst.run(row),
    );
    return written.changes > 0;
  }

  async clearFailures(aor: string): Promise<void> {
    await this.group.run(() => this.clear.run(aor));
  }

  async revoke(jti: string, untilMs: number): Promise<void> {
    await this.group.run(() => this.revokeJti.run({ jti, until: untilMs }));
  }

  async isRevoked(jti: string, nowMs: number): Promise<boolean> {
    return this.revoked.get(jti, nowMs) !== undefined;
  }
}
