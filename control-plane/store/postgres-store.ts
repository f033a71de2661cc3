import { type Clock, systemClock } from '../../common/clock.ts';
import type { Logger } from '../../common/logger.ts';
import type { Migration } from './migrations.ts';
import type { PostgresDatabase } from './postgres-database.ts';
import type { SqlDatabase } from './sql-database.ts';
import { SqlStore } from './sql-store.ts';

export interface PostgresStoreOptions {
  /** `postgres://USER[:PASSWORD]@HOST:PORT/DATABASE`; never logged with its password. */
  readonly url: string;
  /** Default `public`. Tests give each case its own. */
  readonly schema?: string;
  /** Connections in the pool. Default 10. */
  readonly poolSize?: number;
  /** How long getting a connection may take. Default 5000. */
  readonly connectTimeoutMs?: number;
  /** Stamps schema_migrations.applied_at. Default: the system clock. */
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Replaces the migration list: tests use it to exercise upgrades. */
  readonly migrations?: readonly Migration[];
}

/** The shared store for several control-plane replicas: PostgreSQL through a pg pool. */
export class PostgresStore extends SqlStore {
  readonly #options: PostgresStoreOptions;

  constructor(options: PostgresStoreOptions) {
    super();
    this.#options = options;
  }

  /** Wrong URL, user or password: CONFIG_INVALID; unreachable: UNAVAILABLE; not Sigil's or newer: refused unchanged. */
  protected async connect(): Promise<SqlDatabase> {
    // The pg driver is loaded by control planes that use PostgreSQL only.
    const { openPostgres } = await import('./postgres-open.ts');
    return openPostgres({ ...this.#options, clock: this.#options.clock ?? systemClock });
  }

  get url(): string {
    return this.#options.url;
  }

  get schema(): string {
    return this.#options.schema ?? 'public';
  }

  /** The open pool and its error context, for coordination beside the Store methods (locks, notifications). */
  get database(): PostgresDatabase {
    return this.db as PostgresDatabase;
  }
}
