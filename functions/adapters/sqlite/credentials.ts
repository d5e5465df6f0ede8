// SIP credentials on SQLite: HA1 hashes per AOR, apart from every other row so no listing of
// messages or settings ever reads a hash. CredentialStore port.

import { type Credentials, CredentialsSchema } from '../../../shared/contract/views.ts';
import type { CredentialStore, UserListPage } from '../../core/credentials.ts';
import type { SqliteDb } from './db.ts';

interface CredentialsRow {
  aor: string;
  realm: string;
  ha1_sha256: string;
  ha1_md5: string;
  admin: number;
  created_at: string;
  updated_at: string;
}

function credentialsOf(row: CredentialsRow): Credentials {
  return CredentialsSchema.parse({
    aor: row.aor,
    realm: row.realm,
    ha1: { 'SHA-256': row.ha1_sha256, MD5: row.ha1_md5 },
    admin: row.admin === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  });
}

export class SqliteCredentials implements CredentialStore {
  private readonly read;
  private readonly write;
  private readonly remove;
  private readonly first;
  private readonly next;

  constructor(db: SqliteDb) {
    this.read = db.prepare('SELECT * FROM credentials WHERE aor = ?');
    // createdAt of an existing entry is kept
    this.write = db.prepare(
      `INSERT INTO credentials (aor, realm, ha1_sha256, ha1_md5, admin, created_at, updated_at)
       VALUES (@aor, @realm, @sha256, @md5, @admin, @now, @now)
       ON CONFLICT (aor) DO UPDATE SET realm = excluded.realm, ha1_sha256 = excluded.ha1_sha256,
         ha1_md5 = excluded.ha1_md5, admin = excluded.admin, updated_at = excluded.updated_at
       RETURNING *`,
    );
    this.remove = db.prepare('DELETE FROM credentials WHERE aor = ?');
    // never the hashes
    const listing = 'SELECT aor, admin, created_at, updated_at FROM credentials';
    this.first = db.prepare(`${listing} ORDER BY aor LIMIT ?`);
    this.next = db.prepare(`${listing} WHERE aor > ? ORDER BY aor LIMIT ?`);
  }

  async getCredentials(aor: string): Promise<Credentials | undefined> {
    const row = this.read.get(aor) as CredentialsRow | undefined;
    return row ? credentialsOf(row) : undefined;
  }

  async putCredentials(
    entry: Omit<Credentials, 'createdAt' | 'updatedAt'>,
    nowIso: string,
  ): Promise<Credentials> {
    const row = this.write.get({
      aor: entry.aor,
      realm: entry.realm,
      sha256: entry.ha1['SHA-256'],
      md5: entry.ha1.MD5,
      admin: entry.admin ? 1 : 0,
      now: nowIso,
    }) as CredentialsRow;
    return credentialsOf(row);
  }

  async deleteCredentials(aor: string): Promise<boolean> {
    return this.remove.run(aor).changes > 0;
  }

  async listUsers(page: { limit?: number; after?: string } = {}): Promise<UserListPage> {
    const limit = page.limit ?? 100;
    const rows = (
      page.after === undefined ? this.first.all(limit + 1) : this.next.all(page.after, limit + 1)
    ) as Array<Pick<CredentialsRow, 'aor' | 'admin' | 'created_at' | 'updated_at'>>;
    const users = rows.slice(0, limit).map((row) => ({
      aor: row.aor,
      admin: row.admin === 1,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }));
    const last = users.at(-1);
    return rows.length > limit && last ? { users, next: last.aor } : { users };
  }
}
