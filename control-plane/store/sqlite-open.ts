import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { LATEST_SCHEMA_VERSION, type Migration, MIGRATIONS } from './migrations.ts';

const SQLITE_MAGIC = 'SQLite format 3\0';
/** SQLite primary result codes (extended codes carry them in the low byte). */
const SQLITE_PERM = 3;
const SQLITE_BUSY = 5;
const SQLITE_READONLY = 8;
const SQLITE_IOERR = 10;
const SQLITE_FULL = 13;
const SQLITE_CANTOPEN = 14;
const SQLITE_CORRUPT = 11;
const SQLITE_CONSTRAINT = 19;
const SQLITE_NOTADB = 26;

export interface OpenSqliteOptions {
  readonly path: string;
  readonly clock: Clock;
  readonly busyTimeoutMs: number;
  /** Tests replace the list to exercise upgrades; production uses MIGRATIONS. */
  readonly migrations?: readonly Migration[];
}

function corrupt(path: string, what: string, cause?: unknown): SigilError {
  return new SigilError(
    ErrorCode.STORE_CORRUPT,
    `the store ${path} ${what}; nothing was changed: check the store path in the configuration, or restore the file from a backup`,
    { details: { path }, cause },
  );
}

function storeUnavailable(path: string, action: string, what: string, cause: unknown): SigilError {
  return new SigilError(
    ErrorCode.UNAVAILABLE,
    `${action}: the store ${path} is intact but ${what}; nothing was changed`,
    {
      details: { path },
      cause,
    },
  );
}

/** Errors of the file system around the store, with what to do about them. */
function fileProblem(path: string, err: unknown): SigilError | undefined {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'EISDIR':
      return new SigilError(
        ErrorCode.CONFIG_INVALID,
        `the store ${path} is a directory: store.sqlite must name a file`,
        {
          details: { path },
        },
      );
    case 'EACCES':
    case 'EPERM':
      return new SigilError(
        ErrorCode.CONFIG_INVALID,
        `the store ${path} cannot be opened by this user (uid ${process.getuid?.() ?? '?'}): fix its owner or mode (0600, owned by the control plane's user)`,
        { details: { path } },
      );
    case 'EROFS':
      return storeUnavailable(path, 'opening the store', 'its file system is read-only', err);
    case 'ENOSPC':
      return storeUnavailable(path, 'opening the store', 'the disk is full: free space on it and retry', err);
    default:
      return undefined;
  }
}

/** The primary SQLite result code of a node:sqlite error, or undefined for anything else. */
export function sqliteCode(err: unknown): number | undefined {
  const code = (err as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' ? code & 0xff : undefined;
}

/** Maps driver errors to stable codes so callers never see SQLite's own. */
export function translateSqliteError(err: unknown, path: string, action: string): unknown {
  if (err instanceof SigilError) return err;
  switch (sqliteCode(err)) {
    case SQLITE_CONSTRAINT:
      return new SigilError(ErrorCode.INVALID_ARGUMENT, `${action}: the record conflicts with one already stored`, {
        cause: err,
      });
    case SQLITE_BUSY:
      return new SigilError(
        ErrorCode.UNAVAILABLE,
        `${action}: the store ${path} stayed locked by another process; retry`,
        { cause: err },
      );
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return corrupt(path, 'is damaged', err);
    // The file is fine, its surroundings are not: never advise restoring a backup over a healthy store.
    case SQLITE_FULL:
      return storeUnavailable(path, action, 'the disk is full: free space on it and retry', err);
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return storeUnavailable(
        path,
        action,
        `the file or its directory is read-only for this user (uid ${process.getuid?.() ?? '?'}): fix the mount, owner or mode of ${dirname(path)}`,
        err,
      );
    case SQLITE_CANTOPEN:
      return storeUnavailable(
        path,
        action,
        `it cannot be opened (a directory, missing permissions, or ${dirname(path)} is read-only): check the path and its permissions`,
        err,
      );
    case SQLITE_IOERR:
      return storeUnavailable(
        path,
        action,
        'the disk reported an I/O error (full, read-only or failing): check it',
        err,
      );
    default:
      return err;
  }
}

/** Refuses a file that is not empty and not SQLite before SQLite is allowed to touch it. */
function checkHeader(path: string): void {
  const fd = openSync(path, 'r');
  try {
    const header = Buffer.alloc(SQLITE_MAGIC.length);
    const n = readSync(fd, header, 0, header.length, 0);
    if (n !== 0 && (n < header.length || header.toString('latin1') !== SQLITE_MAGIC)) {
      throw corrupt(path, 'is not a SQLite database');
    }
  } finally {
    closeSync(fd);
  }
}

function schemaVersion(db: DatabaseSync): number {
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get();
  return Number(row?.['v'] ?? 0);
}

function newer(path: string, version: number, known: number): SigilError {
  return new SigilError(
    ErrorCode.STORE_SCHEMA_NEWER,
    `the store ${path} has schema version ${version} but this Sigil knows up to ${known}: the database was written by a newer Sigil; upgrade Sigil`,
    { details: { path, version, known } },
  );
}

/** Read-only look at an existing file: Sigil's, empty, or something else. Writes nothing. */
function inspect(db: DatabaseSync, path: string, known: number): void {
  const tables = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
    .all()
    .map((r) => String(r['name']));
  if (tables.length === 0) return;
  if (!tables.includes('schema_migrations')) throw corrupt(path, 'is a SQLite database but not a Sigil store');
  const version = schemaVersion(db);
  if (version > known) throw newer(path, version, known);
}

/**
 * Each pending migration runs in its own BEGIN IMMEDIATE transaction that re-reads the version, so two processes
 * opening a fresh file at once apply every migration exactly once.
 */
function migrate(db: DatabaseSync, options: OpenSqliteOptions, migrations: readonly Migration[], known: number): void {
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
      );
      const current = schemaVersion(db);
      if (current > known) throw newer(options.path, current, known);
      if (current < migration.version) {
        db.exec(migration.sql);
        db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
          migration.version,
          migration.name,
          options.clock.now(),
        );
      }
      db.exec('COMMIT');
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK');
      throw err;
    }
  }
}

/**
 * Opens (creating with mode 0600 if absent) and migrates the store file. A file that is not Sigil's, is damaged or
 * was written by a newer schema is refused before anything is written to it, so a wrong path is never "repaired"
 * into an empty store.
 */
export function openSqlite(options: OpenSqliteOptions): DatabaseSync {
  const { path } = options;
  const migrations = options.migrations ?? MIGRATIONS;
  const known = options.migrations ? migrations.reduce((max, m) => Math.max(max, m.version), 0) : LATEST_SCHEMA_VERSION;
  if (!existsSync(dirname(path))) {
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      `the store's directory ${dirname(path)} does not exist: create it or fix the store path`,
      { details: { path } },
    );
  }
  try {
    if (existsSync(path)) checkHeader(path);
    else closeSync(openSync(path, 'a', 0o600));
  } catch (err) {
    throw fileProblem(path, err) ?? err;
  }
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
  } catch (err) {
    throw translateSqliteError(err, path, 'opening the store');
  }
  try {
    db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs))}`);
    inspect(db, path, known);
    const mode = db.prepare('PRAGMA journal_mode = WAL').get();
    if (String(mode?.['journal_mode']).toLowerCase() !== 'wal') {
      throw new SigilError(
        ErrorCode.UNAVAILABLE,
        `the store ${path} cannot use write-ahead logging (journal mode ${String(mode?.['journal_mode'])}): put it on a local file system`,
      );
    }
    db.exec('PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;');
    migrate(db, options, migrations, known);
    return db;
  } catch (err) {
    db.close();
    const translated = translateSqliteError(err, path, 'opening the store');
    if (translated instanceof SigilError) throw translated;
    throw (
      fileProblem(path, err) ??
      new SigilError(
        ErrorCode.UNAVAILABLE,
        `the store ${path} could not be opened (${(err as Error).message}); nothing was changed: check the disk and the file's permissions before anything else`,
        { details: { path }, cause: err },
      )
    );
  }
}
