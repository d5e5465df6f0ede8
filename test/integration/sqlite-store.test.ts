// The SQLite adapter on a temporary file: the store contract (a second connection to the same
// file stands for another worker), and what is SQLite's own: the file's mode, the schema version
// and its idempotent migrations, WAL and durability settings, the prune of rows past their time.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ulid } from 'ulid';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, migrate, SCHEMA_VERSION } from '../../functions/adapters/sqlite/db.ts';
import {
  SqliteAlerts,
  SqliteChats,
  SqliteCredentials,
  SqliteGroups,
  SqliteNonces,
  SqliteSessions,
  SqliteStore,
} from '../../functions/adapters/sqlite/index.ts';
import { describeAlertStoreContract } from '../contract/alert-contract.ts';
import { describeChatStoreContract } from '../contract/chat-contract.ts';
import { describeGroupStoreContract } from '../contract/group-contract.ts';
import { describeStoreContract } from '../contract/store-contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'holdover-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeGroupStoreContract('SQLite', async () => new SqliteGroups(connect(join(dir, 'groups.db'))));
describeAlertStoreContract('SQLite', async (now) => new SqliteAlerts(connect(join(dir, 'alerts.db')), now));

describeChatStoreContract('SQLite', async (now) => new SqliteChats(connect(join(dir, 'chats.db')), now));

describeStoreContract('SQLite', async (now) => {
  const path = join(dir, 'contract.db');
  const db = connect(path);
  const second = connect(path);
  return {
    store: new SqliteStore(db, now),
    other: new SqliteStore(second, now),
    credentials: new SqliteCredentials(db),
    nonces: new SqliteNonces(db, now),
    sessions: new SqliteSessions(db),
    shards: 1,
    close: async () => {
      db.close();
      second.close();
    },
  };
});

describe('SQLite file', () => {
  it('is its owner’s only, in WAL mode, durable on commit, at the current schema version', () => {
    const path = join(dir, 'mode.db');
    const db = connect(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    expect(migrate(db)).toBe(SCHEMA_VERSION);
    db.close();
    // opened again: the migrations do not run twice, the data is kept
    const again = connect(path);
    expect(migrate(again)).toBe(SCHEMA_VERSION);
    again.close();
  });

  it('refuses a file of a newer schema than the code knows', () => {
    const path = join(dir, 'newer.db');
    const db = connect(path);
    db.prepare('UPDATE schema_version SET version = ?').run(SCHEMA_VERSION + 1);
    db.close();
    expect(() => connect(path)).toThrow(/newer than this code knows/);
  });

  it('prunes what is past its time, and nothing else', async () => {
    const db = connect(join(dir, 'prune.db'));
    let clock = Date.now();
    const store = new SqliteStore(db, () => clock);
    const recipient = `sip:prune-${ulid().toLowerCase()}@example.com`;
    const base = {
      recipient,
      sender: 'sip:alice@example.com',
      senderUri: 'sip:alice@example.com',
      cseq: 1,
      contentType: 'text/plain',
      body: Buffer.from('x'),
      receivedAt: new Date(clock).toISOString(),
      expiresAt: new Date(clock + 60_000).toISOString(),
      state: 'pending' as const,
    };
    await store.hold({ ...base, id: ulid(), callId: 'a' }, { dedupeKeys: ['a'], quota: 10 });
    await store.claimNotice(recipient, 'sip:alice@example.com', 1000);
    expect(store.prune()).toBe(0);
    clock += 8 * 86_400_000;
    // past its time: absent before the prune, gone after it
    expect((await store.listHeld(recipient)).messages).toEqual([]);
    expect(store.prune()).toBe(3); // message, its dedupe marker, the notice claim
    expect(db.prepare('SELECT COUNT(*) FROM messages').pluck().get()).toBe(0);
    db.close();
  });
});
