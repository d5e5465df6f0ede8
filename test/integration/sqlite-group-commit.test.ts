// The SQLite group commit (functions/adapters/sqlite/db.ts): writes of one turn share a
// transaction, each in its own savepoint, durable (synchronous = FULL) when they resolve.
import { mkdtempSync, rmSync } from 'node:fs';
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
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL: on disk when committed
    other.close();
    db.close();
  });

  it('works on a database without a WAL (in memory)', async () => {
    const db = table(':memory:');
    const group = new GroupCommit(db);
    expect(await group.run(() => db.prepare('INSERT INTO t (k) VALUES (?)').run('m').changes)).toBe(1);
    db.close();
  });
});
