/** A value bound to a `?` placeholder: text, integers (Unix ms, counters), bytes or NULL. */
export type SqlValue = string | number | Uint8Array | null;

/** One result row, by column name. Integers may come back as number or bigint-as-string: read them with Number(). */
export type Row = Record<string, unknown>;

export type SqlDialect = 'sqlite' | 'postgres';

/**
 * Runs statements written once in the SQL both engines agree on, with `?` placeholders (the PostgreSQL driver
 * numbers them). `action` names what the caller was doing, for the error a failure becomes: driver errors leave as
 * SigilErrors (INVALID_ARGUMENT for a conflicting record, UNAVAILABLE for a busy or unreachable database).
 */
export interface SqlExecutor {
  all(action: string, sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
  get(action: string, sql: string, params?: readonly SqlValue[]): Promise<Row | undefined>;
  /** Returns the number of rows changed. */
  run(action: string, sql: string, params?: readonly SqlValue[]): Promise<number>;
}

/** An open database: statements on their own are atomic; `transaction` groups several. */
export interface SqlDatabase extends SqlExecutor {
  readonly dialect: SqlDialect;
  /**
   * Runs `body` in one transaction that takes the write lock up front (SQLite BEGIN IMMEDIATE; PostgreSQL READ
   * COMMITTED with row locks). `body` must use the executor it is given, never the database itself. A body that
   * throws rolls everything back. On PostgreSQL a deadlock or serialisation failure reruns the body (at most 3 times),
   * so it must not have effects outside the database.
   */
  transaction<T>(action: string, body: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
