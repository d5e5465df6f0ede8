// The SQLite group commit (functions/adapters/sqlite/db.ts): writes of one turn share a
// transaction, each in its own savepoint; on a WAL file the commit's fsync runs off the main
// thread and a write resolves only once the WAL is synced; every other transaction stays FULL.
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, GroupCommit } from '../../functions/adapters/sqlite/db.ts';

const dir = mkdtempSync(join(tmpdir(), 'holdover-group-commit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function table(path: string) {
  const db = connect(path);
  db.exec('CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY)');
  return db;
}

describe('GroupCommit', () => {
  it('commits the writes of one turn together; one that throws rolls back only its own', async () => {
    const path = join(dir, 'a.db');
    const db = table(path);
    const group = new GroupCommit(db);
    const insert = (k: string) => () => db.prepare('INSERT INTO t (k) VALUES (?)').run(k).changes;
    const results = await Promise.allSettled([
      group.run(insert('one')),
      group.run(insert('one')), // the primary key refuses it
      group.run(insert('two')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const other = connect(path);
    expect(other.prepare('SELECT k FROM t ORDER BY k').all()).toEqual([{ k: 'one' }, { k: 'two' }]);
    // the commit's own NORMAL is for that transaction only: the others still sync on commit
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    other.close();
    db.close();
  });

  it('resolves a write only once the WAL is synced: a sync that fails rejects it', async () => {
    const path = join(dir, 'b.db');
    const db = table(path);
    const group = new GroupCommit(db);
    await group.run(() => db.prepare('INSERT INTO t (k) VALUES (?)').run('before'));
    unlinkSync(`${path}-wal`); // the WAL cannot be opened to sync it any more
    await expect(group.run(() => db.prepare('INSERT INTO t (k) VALUES (?)').run('after'))).rejects.toThrow(
      /WAL could not be opened/,
    );
    db.close();
  });

  it('works on a database without a WAL (in memory)', async () => {
    const db = table(':memory:');
    const group = new GroupCommit(db);
    expect(await group.run(() => db.prepare('INSERT INTO t (k) VALUES (?)').run('m').changes)).toBe(1);
    db.close();
  });
});
