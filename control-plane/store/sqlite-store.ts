import { type Clock, systemClock } from '../../common/clock.ts';
import type { Migration } from './migrations.ts';
import type { SqlDatabase } from './sql-database.ts';
import { SqlStore } from './sql-store.ts';
import { SqliteDatabase } from './sqlite-database.ts';
import { openSqlite } from './sqlite-open.ts';

export interface SqliteStoreOptions {
  /** The database file; its directory must exist. Created with mode 0600 if absent. */
  readonly path: string;
  /** Stamps schema_migrations.applied_at. Default: the system clock. */
  readonly clock?: Clock;
  /** How long a write waits for another process's lock. Default 5000. */
  readonly busyTimeoutMs?: number;
  /** Replaces the migration list: tests use it to exercise upgrades. */
  readonly migrations?: readonly Migration[];
}

/** The embedded store: one SQLite file (node:sqlite, WAL), the default for a single control plane. */
export class SqliteStore extends SqlStore {
  readonly #options: SqliteStoreOptions;

  constructor(options: SqliteStoreOptions) {
    super();
    this.#options = options;
  }

  /** Refuses (without changing the file) a non-SQLite or damaged file (STORE_CORRUPT) or a newer schema (STORE_SCHEMA_NEWER). */
  protected async connect(): Promise<SqlDatabase> {
    const db = openSqlite({
      path: this.#options.path,
      clock: this.#options.clock ?? systemClock,
      busyTimeoutMs: this.#options.busyTimeoutMs ?? 5000,
      ...(this.#options.migrations ? { migrations: this.#options.migrations } : {}),
    });
    return new SqliteDatabase(db, this.#options.path);
  }
}
