import { userInfo } from 'node:os';
import pg from 'pg';
import type { Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import { LATEST_SCHEMA_VERSION, type Migration, MIGRATIONS, migrationSql } from './migrations.ts';
import { PostgresDatabase } from './postgres-database.ts';
import { checkPostgresUrl } from './postgres-url.ts';
import { type PgErrorContext, redactUrl, translatePgError } from './postgres-errors.ts';

export interface OpenPostgresOptions {
  /** `postgres://user@host:port/database`; the password may be in it or in PGPASSWORD. */
  readonly url: string;
  /** Sigil's tables live here; created if absent (and the user may). Default `public`. */
  readonly schema?: string;
  /** Connections in the pool. Default 10. */
  readonly poolSize?: number;
  /** How long getting a connection may take. Default 5000. */
  readonly connectTimeoutMs?: number;
  readonly clock: Clock;
  readonly logger?: Logger;
  /** Tests replace the list to exercise upgrades; production uses MIGRATIONS. */
  readonly migrations?: readonly Migration[];
}

export { checkPostgresUrl };

/** Lowercase identifiers only: the schema name goes into search_path and DDL unquoted. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** First key of Sigil's advisory locks: the two-key form keeps them apart from an application's one-key locks. */
export const SIGIL_LOCK_CLASS = 0x5191;

/** int8 (BIGINT) as a JavaScript number: Sigil's integers are Unix ms and counters, far below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export function errorContext(url: string, schema: string): PgErrorContext {
  const parsed = new URL(url);
  const user = decodeURIComponent(parsed.username) || process.env['PGUSER'] || userInfo().username;
  return { where: redactUrl(url), user, schema };
}

export function checkSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      `store.postgres.schema ${JSON.stringify(schema)} must be a lowercase identifier ([a-z_][a-z0-9_]*, at most 63)`,
    );
  }
  return schema;
}

/** A pool whose connections all see Sigil's schema first. */
export function createPool(
  options: Pick<OpenPostgresOptions, 'url' | 'poolSize' | 'connectTimeoutMs'> & { schema: string },
): pg.Pool {
  return new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
    application_name: 'sigil-control-plane',
    options: `-c search_path=${options.schema}`,
    types,
  });
}

/**
 * Connects, then applies pending migrations under an advisory lock on one connection, so replicas starting together
 * migrate once; each migration is its own transaction. A schema holding tables but no schema_migrations (another
 * program's) is refused (STORE_CORRUPT), as is a schema written by a newer Sigil (STORE_SCHEMA_NEWER); nothing is
 * changed in either case.
 */
export async function openPostgres(options: OpenPostgresOptions): Promise<PostgresDatabase> {
  checkPostgresUrl(options.url, 'store.postgres.url');
  const schema = checkSchemaName(options.schema ?? 'public');
  const context = errorContext(options.url, schema);
  const pool = createPool({ ...options, schema });
  // An idle connection cut by a server restart is reported here; without a listener it would end the process.
  pool.on('error', (err) => {
    options.logger?.warn(
      { err: { message: err.message } },
      'PostgreSQL dropped an idle connection; reconnecting on demand',
    );
  });
  const db = new PostgresDatabase(pool, context);
  try {
    await migrate(pool, context, options);
    return db;
  } catch (err) {
    await db.close().catch(() => undefined);
    throw translatePgError(err, context, 'opening the store');
  }
}

async function migrate(pool: pg.Pool, context: PgErrorContext, options: OpenPostgresOptions): Promise<void> {
  const migrations = [...(options.migrations ?? MIGRATIONS)].sort((a, b) => a.version - b.version);
  const known = options.migrations ? migrations.reduce((max, m) => Math.max(max, m.version), 0) : LATEST_SCHEMA_VERSION;
  const { schema } = context;
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw translatePgError(err, context, 'connecting to the store');
  }
  try {
    await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [SIGIL_LOCK_CLASS, `migrations:${schema}`]);
    try {
      const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
      if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${schema}`);
      const tables = await client.query<{ relname: string }>(
        `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')`,
        [schema],
      );
      const names = tables.rows.map((r) => r.relname);
      if (names.length > 0 && !names.includes('schema_migrations')) {
        throw new SigilError(
          ErrorCode.STORE_CORRUPT,
          `the PostgreSQL schema ${schema} at ${context.where} holds tables (${names.slice(0, 3).join(', ')}…) but is not a Sigil store; nothing was changed: point store.postgres at an empty database or schema`,
          { details: { schema } },
        );
      }
      if (!names.includes('schema_migrations')) {
        await client.query(
          'CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
        );
      }
      const version = async () =>
        Number((await client.query('SELECT MAX(version) AS v FROM schema_migrations')).rows[0]?.v ?? 0);
      const current = await version();
      if (current > known) {
        throw new SigilError(
          ErrorCode.STORE_SCHEMA_NEWER,
          `the store at ${context.where} (schema ${schema}) has schema version ${current} but this Sigil knows up to ${known}: the database was written by a newer Sigil; upgrade Sigil`,
          { details: { schema, version: current, known } },
        );
      }
      for (const migration of migrations) {
        if (migration.version <= current) continue;
        await client.query('BEGIN');
        try {
          await client.query(migrationSql(migration, 'postgres'));
          await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
            migration.version,
            migration.name,
            options.clock.now(),
          ]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw translatePgError(err, context, `applying store migration ${migration.version} (${migration.name})`);
        }
      }
    } finally {
      await client
        .query('SELECT pg_advisory_unlock($1, hashtext($2))', [SIGIL_LOCK_CLASS, `migrations:${schema}`])
        .catch(() => undefined);
    }
  } finally {
    client.release();
  }
}
