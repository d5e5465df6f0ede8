// The embedded store's file (docs/design.md "Storage"): one SQLite database in the data directory,
// opened once per process. WAL, so readers never wait for the writer; `synchronous = FULL`, so a
// transaction is on disk when its commit returns (durable on commit: a 202 is never given for a
// message a power cut could take back; measured ~0.5 ms per commit here). A busy timeout lets a
// second connection (the CLI, a test) wait for the writer instead of failing. The schema is
// versioned: each migration runs once, in order, in its own transaction.
import { chmodSync, existsSync } from 'node:fs';
import Database from 'better-sqlite3';

export type SqliteDb = Database.Database;

/** Schema migrations, in order; the database records how many have run. Never edit one: append. */
const MIGRATIONS: readonly string[] = [
  `
  -- A held message. Its key is the recipient and arrival order, as DynamoDB's (USER#, MSG#<time>#<id>).
  CREATE TABLE messages (
    recipient   TEXT NOT NULL,
    received_at TEXT NOT NULL,
    id          TEXT NOT NULL,
    state       TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    owner       TEXT,
    claimed_at  INTEGER,
    body        BLOB NOT NULL,
    facts       TEXT NOT NULL, -- JSON: sender, senderUri, senderName, replyTo, callId, cseq, contentType, cpim, subject
    bounce      TEXT,          -- JSON BounceFacts while bounced or dead
    dead        TEXT,          -- JSON DeadFacts while dead
    gc_at       INTEGER,       -- epoch ms after which it is treated as absent and pruned; NULL: kept (dead letters)
    PRIMARY KEY (recipient, received_at, id)
  ) WITHOUT ROWID;
  CREATE UNIQUE INDEX messages_by_id ON messages (id);
  -- the expiry index: every message but dead letters, by expiry
  CREATE INDEX messages_by_expiry ON messages (expires_at, id) WHERE state <> 'dead';
  CREATE INDEX messages_dead ON messages (id) WHERE state = 'dead';

  -- Call-ID+CSeq / IMDN Message-ID → the first message with it.
  CREATE TABLE dedupe (
    key        TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    gc_at      INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE settings (
    aor            TEXT PRIMARY KEY,
    settings       TEXT NOT NULL,
    vacation_until TEXT,
    updated_at     TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX settings_on_vacation ON settings (vacation_until) WHERE vacation_until IS NOT NULL;

  CREATE TABLE presence (
    aor      TEXT PRIMARY KEY,
    version  INTEGER NOT NULL,
    presence TEXT NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE notices (
    recipient TEXT NOT NULL,
    sender    TEXT NOT NULL,
    until     INTEGER NOT NULL,
    PRIMARY KEY (recipient, sender)
  ) WITHOUT ROWID;

  CREATE TABLE leases (
    recipient TEXT PRIMARY KEY,
    owner     TEXT NOT NULL,
    until     INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE credentials (
    aor        TEXT PRIMARY KEY,
    realm      TEXT NOT NULL,
    ha1_sha256 TEXT NOT NULL,
    ha1_md5    TEXT NOT NULL,
    admin      INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE nonces (
    nonce TEXT PRIMARY KEY,
    until INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  `
  -- The local work queues (delivery, expired) and their dead-letter queues: a job is visible from
  -- visible_at; a receive hides it for the visibility timeout and counts the receive.
  CREATE TABLE jobs (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    queue         TEXT NOT NULL,
    id            TEXT NOT NULL UNIQUE,
    body          TEXT NOT NULL,
    sent_at       INTEGER NOT NULL,
    visible_at    INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    first_receive INTEGER,
    receipt       TEXT
  );
  CREATE INDEX jobs_visible ON jobs (queue, visible_at, seq);
  `,
  `
  -- Sign-in attempts per AOR (replaced conditionally per attempt) and revoked tokens per jti.
  CREATE TABLE sign_ins (
    aor             TEXT PRIMARY KEY,
    count           INTEGER NOT NULL,
    next_allowed_ms INTEGER NOT NULL,
    keep_until      INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE revoked (
    jti   TEXT PRIMARY KEY,
    until INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  `
  -- Groups (distribution lists, queues), each member's groups, and a queue's memory: when each
  -- member last got a message from it, and who has a sender's conversation (kept a day).
  CREATE TABLE groups (
    aor        TEXT PRIMARY KEY,
    body       TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE group_members (
    member     TEXT NOT NULL,
    group_aor  TEXT NOT NULL,
    routing    TEXT NOT NULL,
    PRIMARY KEY (member, group_aor)
  ) WITHOUT ROWID;
  CREATE TABLE group_idle (
    group_aor  TEXT NOT NULL,
    member     TEXT NOT NULL,
    at_ms      INTEGER NOT NULL,
    PRIMARY KEY (group_aor, member)
  ) WITHOUT ROWID;
  CREATE TABLE group_sticky (
    group_aor  TEXT NOT NULL,
    sender     TEXT NOT NULL,
    member     TEXT NOT NULL,
    at_ms      INTEGER NOT NULL,
    PRIMARY KEY (group_aor, sender)
  ) WITHOUT ROWID;
  `,
  `
  -- Click-to-chat: a chat (JSON) and its lines (JSON, state apart), each gone after expires_ms.
  CREATE TABLE chats (
    id          TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    expires_ms  INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE chat_lines (
    chat_id     TEXT NOT NULL,
    id          TEXT NOT NULL,
    body        TEXT NOT NULL,
    state       TEXT NOT NULL,
    expires_ms  INTEGER NOT NULL,
    PRIMARY KEY (chat_id, id)
  ) WITHOUT ROWID;
  `,
  `
  -- Alerts from email: one row per mail and group, the record (members' outcomes) as JSON.
  CREATE TABLE alerts (
    id          TEXT PRIMARY KEY,
    group_aor   TEXT NOT NULL,
    received_at TEXT NOT NULL,
    body        TEXT NOT NULL,
    gc_at       INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX alerts_by_time ON alerts (received_at, id);
  CREATE INDEX alerts_by_group ON alerts (group_aor, received_at, id);
  `,
];

const open = new Map<string, SqliteDb>();

/**
 * The database at `path`, created and migrated on first use; one connection per path and process
 * (better-sqlite3 is synchronous: one connection serialises this process's transactions).
 */
export function openDatabase(path: string): SqliteDb {
  const existing = open.get(path);
  if (existing?.open) return existing;
  const db = connect(path);
  open.set(path, db);
  return db;
}

/** A new connection of its own (tests: a second process's view of the same file). */
export function connect(path: string): SqliteDb {
  const created = path !== ':memory:' && !existsSync(path);
  const db = new Database(path);
  // every held body is in this file: its owner's only (the data directory is 0700 too)
  if (created) chmodSync(path, 0o600);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  migrate(db);
  return db;
}

/** Runs the migrations not yet run; idempotent, and safe when two connections open at once. */
export function migrate(db: SqliteDb): number {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  db.transaction(() => {
    const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
    if (row === undefined) db.prepare('INSERT INTO schema_version (version) VALUES (0)').run();
    let version = row?.version ?? 0;
    if (version > MIGRATIONS.length) {
      throw new Error(
        `the store's schema is version ${version}, newer than this code knows (${MIGRATIONS.length}): update Holdover`,
      );
    }
    for (; version < MIGRATIONS.length; version++) db.exec(MIGRATIONS[version] ?? '');
    db.prepare('UPDATE schema_version SET version = ?').run(version);
  }).immediate();
  return (db.prepare('SELECT version FROM schema_version').get() as { version: number }).version;
}

export const SCHEMA_VERSION = MIGRATIONS.length;

/** A Uint8Array as better-sqlite3 binds a BLOB (a Buffer over the same bytes, no copy). */
export function blob(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Thrown inside a transaction to roll it back with an outcome to return. */
export class Rollback<T> extends Error {
  constructor(readonly outcome: T) {
    super('rolled back');
  }
}

/** Runs `work` in one IMMEDIATE transaction (the write lock from the start: no upgrade deadlock). */
export function writeTransaction<T>(db: SqliteDb, work: () => T): T {
  return db.transaction(work).immediate();
}

/**
 * Group commit: every write asked for while this turn of the event loop runs goes into one
 * IMMEDIATE transaction, each in its own savepoint (one that throws rolls back only its own
 * writes, and its promise rejects with that error), and one commit (one fsync with
 * `synchronous = FULL`) makes them all durable before any promise resolves. Under load many
 * captures share an fsync; alone, a write is its own transaction, as without it. (Tried and
 * measured slower on 2 shared cores: committing with `synchronous = NORMAL` and an fdatasync of
 * the WAL on the thread pool before resolving; and checkpoints in a worker thread.)
 */
export class GroupCommit {
  private readonly queued: Array<{
    work: () => unknown;
    resolve: (value: unknown) => void;
    reject: (error: unknown) => void;
  }> = [];

  constructor(private readonly db: SqliteDb) {}

  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queued.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (this.queued.length === 1) setImmediate(() => this.commit());
    });
  }

  private commit(): void {
    const group = this.queued.splice(0);
    let results: Array<{ value: unknown } | { error: unknown }>;
    try {
      results = this.db
        .transaction(() =>
          group.map(({ work }) => {
            try {
              return { value: this.db.transaction(work)() };
            } catch (error) {
              return { error };
            }
          }),
        )
        .immediate();
    } catch (error) {
      for (const item of group) item.reject(error);
      return;
    }
    group.forEach((item, index) => {
      const result = results[index];
      if (result && 'value' in result) item.resolve(result.value);
      else item.reject(result?.error);
    });
  }
}

const groups = new WeakMap<SqliteDb, GroupCommit>();

/** The one group commit of a connection. */
export function groupCommitOf(db: SqliteDb): GroupCommit {
  let group = groups.get(db);
  if (group === undefined) {
    group = new GroupCommit(db);
    groups.set(db, group);
  }
  return group;
}
