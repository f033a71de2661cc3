import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { Row, SqlDatabase, SqlExecutor, SqlValue } from './sql-database.ts';
import { translateSqliteError } from './sqlite-open.ts';

/**
 * SqlDatabase over one node:sqlite connection. The driver is synchronous, so a statement on its own runs to
 * completion before anything else; a transaction's body is asynchronous, so while one is open every other caller
 * waits its turn (they would otherwise run inside it, on the same connection).
 */
export class SqliteDatabase implements SqlDatabase {
  readonly dialect = 'sqlite' as const;
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #statements = new Map<string, StatementSync>();
  #closed = false;
  /** Settles when the open transaction ends; undefined when none is open. */
  #turn: Promise<void> | undefined;

  constructor(db: DatabaseSync, path: string) {
    this.#db = db;
    this.#path = path;
  }

  /** Statements of the open transaction run directly; everyone else waits for it to end. */
  readonly #direct: SqlExecutor = {
    all: async (action, sql, params) => this.#with(action, sql, (s) => s.all(...bind(params))),
    get: async (action, sql, params) => this.#with(action, sql, (s) => s.get(...bind(params))),
    run: async (action, sql, params) => Number(this.#with(action, sql, (s) => s.run(...bind(params))).changes),
  };

  async all(action: string, sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    // Checked and used with no await in between, so no transaction can open in the gap.
    while (this.#turn) await this.#turn;
    return this.#direct.all(action, sql, params);
  }

  async get(action: string, sql: string, params?: readonly SqlValue[]): Promise<Row | undefined> {
    // Checked and used with no await in between, so no transaction can open in the gap.
    while (this.#turn) await this.#turn;
    return this.#direct.get(action, sql, params);
  }

  async run(action: string, sql: string, params?: readonly SqlValue[]): Promise<number> {
    // Checked and used with no await in between, so no transaction can open in the gap.
    while (this.#turn) await this.#turn;
    return this.#direct.run(action, sql, params);
  }

  /** BEGIN IMMEDIATE takes the write lock up front against other processes. */
  async transaction<T>(action: string, body: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    while (this.#turn) await this.#turn;
    this.#open(action);
    let release!: () => void;
    this.#turn = new Promise((resolve) => {
      release = resolve;
    });
    try {
      this.#exec(action, 'BEGIN IMMEDIATE');
      try {
        const result = await body(this.#direct);
        this.#exec(action, 'COMMIT');
        return result;
      } catch (err) {
        if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
        throw translateSqliteError(err, this.#path, action);
      }
    } finally {
      this.#turn = undefined;
      release();
    }
  }

  async close(): Promise<void> {
    while (this.#turn) await this.#turn;
    if (this.#closed) return;
    this.#closed = true;
    this.#statements.clear();
    this.#db.close();
  }

  #open(action: string): void {
    if (this.#closed) throw new SigilError(ErrorCode.UNAVAILABLE, `${action}: the store is not open`);
  }

  #exec(action: string, sql: string): void {
    try {
      this.#db.exec(sql);
    } catch (err) {
      throw translateSqliteError(err, this.#path, action);
    }
  }

  /** Runs one cached prepared statement; driver errors leave as SigilErrors (conflict, busy, damaged). */
  #with<T>(action: string, sql: string, use: (stmt: StatementSync) => T): T {
    this.#open(action);
    try {
      let stmt = this.#statements.get(sql);
      if (!stmt) {
        stmt = this.#db.prepare(sql);
        this.#statements.set(sql, stmt);
      }
      return use(stmt);
    } catch (err) {
      throw translateSqliteError(err, this.#path, action);
    }
  }
}

function bind(params: readonly SqlValue[] | undefined): SQLInputValue[] {
  return params ? (params as SQLInputValue[]) : [];
}
