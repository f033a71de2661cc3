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

// Tests run as root here, where no mode makes a file unreadable: the refusal is injected at the file-system boundary.
t.test('a store file this user cannot open is named as such, not "unexpected failure: EACCES"', async (t) => {
  const denied = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
  const actual = await import('node:fs');
  const { openSqlite } = await t.mockImport<typeof import('./sqlite-open.ts')>('./sqlite-open.ts', {
    'node:fs': {
      ...actual,
      existsSync: () => true,
      openSync: () => {
        throw denied;
      },
    },
  });
  const { systemClock } = await import('../../common/clock.ts');
  t.throws(() => openSqlite({ path: '/data/sigil.db', clock: systemClock, busyTimeoutMs: 0 }), {
    code: ErrorCode.CONFIG_INVALID,
    message: /the store \/data\/sigil\.db cannot be opened by this user \(uid \d+\): fix its owner or mode/,
  });
});
