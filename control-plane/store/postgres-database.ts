import type pg from 'pg';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import {
  isConnectionError,
  isRetryableTransactionError,
  type PgErrorContext,
  translatePgError,
} from './postgres-errors.ts';
import type { Row, SqlDatabase, SqlExecutor, SqlValue } from './sql-database.ts';

const MAX_TRANSACTION_ATTEMPTS = 3;

/** `?` placeholders (the shared SQL) to `$1, $2, …`. Sigil's statements carry no `?` inside string literals. */
export function numberPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** Connection-level retry only for statements that change nothing: a write cut short may have committed. */
function readOnly(sql: string): boolean {
  return /^\s*SELECT\b/i.test(sql);
}

type Queryable = Pick<pg.PoolClient, 'query'>;

/**
 * SqlDatabase over a pg Pool. Each statement is its own transaction on some pooled connection; `transaction` holds
 * one connection from BEGIN to COMMIT. A connection broken by a server restart is dropped by the pool, and the next
 * statement gets a new one; a read that failed that way is tried once more, a write is reported (UNAVAILABLE).
 */
export class PostgresDatabase implements SqlDatabase {
  readonly dialect = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #context: PgErrorContext;
  readonly #texts = new Map<string, string>();
  #closed = false;

  constructor(pool: pg.Pool, context: PgErrorContext) {
    this.#pool = pool;
    this.#context = context;
  }

  get pool(): pg.Pool {
    return this.#pool;
  }

  get context(): PgErrorContext {
    return this.#context;
  }

  async all(action: string, sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    return (await this.#query(this.#pool, action, sql, params, readOnly(sql))).rows;
  }

  async get(action: string, sql: string, params?: readonly SqlValue[]): Promise<Row | undefined> {
    return (await this.all(action, sql, params))[0];
  }

  async run(action: string, sql: string, params?: readonly SqlValue[]): Promise<number> {
    return (await this.#query(this.#pool, action, sql, params, readOnly(sql))).rowCount ?? 0;
  }

  async transaction<T>(action: string, body: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.#connect(action);
      let broken: unknown;
      try {
        await client.query('BEGIN');
        const result = await body(this.#executor(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
          broken = rollbackErr;
        });
        if (attempt < MAX_TRANSACTION_ATTEMPTS && isRetryableTransactionError(err)) continue;
        throw translatePgError(err, this.#context, action);
      } finally {
        // A client whose connection broke must not go back to the pool.
        client.release(broken instanceof Error ? broken : undefined);
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }

  #executor(client: Queryable): SqlExecutor {
    return {
      all: async (action, sql, params) => (await this.#query(client, action, sql, params, false)).rows,
      get: async (action, sql, params) => (await this.#query(client, action, sql, params, false)).rows[0],
      run: async (action, sql, params) => (await this.#query(client, action, sql, params, false)).rowCount ?? 0,
    };
  }

  async #connect(action: string): Promise<pg.PoolClient> {
    this.#refuseClosed(action);
    try {
      return await this.#pool.connect();
    } catch (err) {
      throw translatePgError(err, this.#context, action);
    }
  }

  async #query(
    on: Queryable,
    action: string,
    sql: string,
    params: readonly SqlValue[] | undefined,
    retry: boolean,
  ): Promise<pg.QueryResult<Row>> {
    this.#refuseClosed(action);
    let text = this.#texts.get(sql);
    if (text === undefined) {
      text = numberPlaceholders(sql);
      this.#texts.set(sql, text);
    }
    const values = params ? [...params] : [];
    try {
      return await on.query<Row>(text, values);
    } catch (err) {
      if (retry && isConnectionError(err) && !this.#closed) {
        try {
          return await on.query<Row>(text, values);
        } catch (again) {
          throw translatePgError(again, this.#context, action);
        }
      }
      throw translatePgError(err, this.#context, action);
    }
  }

  #refuseClosed(action: string): void {
    if (this.#closed) throw new SigilError(ErrorCode.UNAVAILABLE, `${action}: the store is not open`);
  }
}
