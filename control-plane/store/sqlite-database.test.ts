import t, { type Test } from 'tap';
import { DatabaseSync } from 'node:sqlite';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../../common/errors.ts';
import { SqliteDatabase } from './sqlite-database.ts';

// Group commit (issue 18): the writes asked for in one turn of the event loop share one COMMIT, each in a savepoint.

async function openDatabase(t: Test): Promise<{ db: SqliteDatabase; path: string; commits: () => number }> {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-sqlite-group-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'test.db');
  const raw = new DatabaseSync(path);
  raw.exec('PRAGMA journal_mode = WAL; CREATE TABLE items (name TEXT PRIMARY KEY, n INTEGER NOT NULL)');
  // Counts the COMMITs the database runs on the connection.
  let commits = 0;
  const exec = raw.exec.bind(raw);
  raw.exec = (sql: string) => {
    if (sql === 'COMMIT') commits++;
    return exec(sql);
  };
  const db = new SqliteDatabase(raw, path);
  t.teardown(() => db.close());
  return { db, path, commits: () => commits };
}

const count = async (db: SqliteDatabase) => Number((await db.get('count', 'SELECT COUNT(*) AS n FROM items'))?.['n']);

t.test('concurrent writes share one commit and each caller is answered after it', async (t) => {
  const { db, commits } = await openDatabase(t);
  const before = commits();
  const writes = Array.from({ length: 5 }, (_, i) =>
    db.transaction(`write ${i}`, async (tx) => {
      await tx.run('insert', 'INSERT INTO items (name, n) VALUES (?, ?)', [`item-${i}`, i]);
      return i;
    }),
  );
  const single = db.run('insert', 'INSERT INTO items (name, n) VALUES (?, ?)', ['single', 9]);
  t.same(await Promise.all(writes), [0, 1, 2, 3, 4]);
  t.equal(await single, 1, 'run returns the rows changed');
  t.equal(commits() - before, 1, 'six writes, one commit');
  t.equal(await count(db), 6);
});

t.test('a body that throws rolls back its own writes only', async (t) => {
  const { db } = await openDatabase(t);
  const good = db.transaction('good', (tx) => tx.run('insert', 'INSERT INTO items (name, n) VALUES (?, ?)', ['a', 1]));
  const bad = db.transaction('bad', async (tx) => {
    await tx.run('insert', 'INSERT INTO items (name, n) VALUES (?, ?)', ['b', 2]);
    throw new Error('refused');
  });
  const conflict = db.run('duplicate', 'INSERT INTO items (name, n) VALUES (?, ?)', ['a', 3]);
  const after = db.transaction('after', (tx) =>
    tx.run('insert', 'INSERT INTO items (name, n) VALUES (?, ?)', ['c', 4]),
  );
  await t.resolves(good);
  await t.rejects(bad, { message: 'refused' });
  await t.rejects(conflict, { code: ErrorCode.INVALID_ARGUMENT }, 'a constraint failure fails its own caller only');
  await t.resolves(after);
  const names = (await db.all('list', 'SELECT name FROM items ORDER BY name')).map((r) => r['name']);
  t.same(names, ['a', 'c']);
});

t.test('a write asked for after close is refused, and close waits for the writes already asked for', async (t) => {
  const { db } = await openDatabase(t);
  const pending = db.run('insert', 'INSERT INTO items (name, n) VALUES (?, ?)', ['x', 1]);
  await db.close();
  t.equal(await pending, 1, 'committed before the close');
  await t.rejects(db.run('insert', 'INSERT INTO items (name, n) VALUES (?, ?)', ['y', 1]), {
    code: ErrorCode.UNAVAILABLE,
  });
});
