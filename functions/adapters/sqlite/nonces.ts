// Nonces of state-changing signed calls on SQLite: claimed once until their window ends; a claim
// past its time is taken over as an absent one (and pruned). NonceStore port.
import type { NonceStore } from '../../core/ports.ts';
import { type GroupCommit, groupCommitOf, type SqliteDb } from './db.ts';

export class SqliteNonces implements NonceStore {
  private readonly group: GroupCommit;
  private readonly claimNonce;

  constructor(
    db: SqliteDb,
    private readonly now: () => number = Date.now,
  ) {
    this.group = groupCommitOf(db);
    this.claimNonce = db.prepare(
      `INSERT INTO nonces (nonce, until) VALUES (@nonce, @until)
       ON CONFLICT (nonce) DO UPDATE SET until = excluded.until WHERE nonces.until < @now`,
    );
  }

  async claim(nonce: string, untilMs: number): Promise<boolean> {
    return (
      (await this.group.run(() => this.claimNonce.run({ nonce, until: untilMs, now: this.now() }))).changes >
      0
    );
  }
}
