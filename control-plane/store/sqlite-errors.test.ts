import t from 'tap';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../../common/errors.ts';
import { translateSqliteError } from './sqlite-open.ts';
import { SqliteStore } from './sqlite-store.ts';

// Issue 21 item 13: a healthy store on a full or read-only disk must not be called corrupt (restoring a backup over
// it would lose data), and a directory in its place must be named as such.
t.test('disk problems are not reported as a corrupt store', async (t) => {
  for (const [errcode, pattern] of [
    [13, /disk is full/],
    [8, /read-only/],
    [10, /I\/O error/],
    [14, /cannot be opened/],
  ] as const) {
    const err = translateSqliteError({ errcode, message: 'x' }, '/data/sigil.db', 'revoking');
    t.match(err, { code: ErrorCode.UNAVAILABLE, message: pattern }, `SQLite code ${errcode}`);
    t.notMatch((err as Error).message, /backup/, 'no restore advice');
  }
  t.match(translateSqliteError({ errcode: 11 }, '/data/sigil.db', 'x'), { code: ErrorCode.STORE_CORRUPT });
});

t.test('a directory where the store file should be is named as such', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-store-dir-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'sigil.db'));
  await t.rejects(new SqliteStore({ path: join(dir, 'sigil.db') }).open(), {
    code: ErrorCode.CONFIG_INVALID,
    message: /is a directory: store.sqlite must name a file/,
  });
});
