import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { Row, SqlDatabase, SqlExecutor, SqlValue } from './sql-database.ts';
import { translateSqliteError } from './sqlite-open.ts';

/** A write waiting for the next group commit. */
interface PendingWrite {
  readonly action: string;
  readonly body: (tx: SqlExecutor) => Promise<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * SqlDatabase over one node:sqlite connection. The driver is synchronous, so a statement on its own runs to
 * completion before anything else; a transaction's body is asynchronous, so while one is open every other caller
 * waits its turn (they would otherwise run inside it, on the same connection).
 *
 * Writes are group-committed: every transaction and every `run` asked for in one turn of the event loop (the
 * Attest calls of one socket read, say) runs in one BEGIN IMMEDIATE ... COMMIT, each body in a SAVEPOINT of its
 * own, so a body that throws rolls back its own writes and nothing else. Each caller is answered only once the
 * COMMIT has succeeded (a failed COMMIT fails every caller of the group): a write that was answered is committed.
 */
export class SqliteDatabase implements SqlDatabase {
  readonly dialect = 'sqlite' as const;
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #statements = new Map<string, StatementSync>();
  #closed = false;
  /** Settles when the open transaction ends; undefined when none is open. */
  #turn: Promise<void> | undefined;
  /** Writes for the next group commit, in the order they were asked for. */
  #pending: PendingWrite[] = [];
  /** Set while a group commit is scheduled or running. */
  #committing: Promise<void> | undefined;

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

  /** A write on its own: committed with the other writes of this turn of the event loop. */
  run(action: string, sql: string, params?: readonly SqlValue[]): Promise<number> {
    return this.transaction(action, (tx) => tx.run(action, sql, params));
  }

  /** BEGIN IMMEDIATE takes the write lock up front against other processes. */
  transaction<T>(action: string, body: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ action, body, resolve: resolve as (value: unknown) => void, reject });
      // setImmediate: the group takes every write asked for before the event loop polls for I/O again.
      this.#committing ??= new Promise<void>((done) => setImmediate(done)).then(() => this.#commitAll());
    });
  }

  /** Commits groups until no write is waiting. */
  async #commitAll(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const group = this.#pending;
        this.#pending = [];
        await this.#commitGroup(group);
      }
    } finally {
      this.#committing = undefined;
    }
  }

  async #commitGroup(group: PendingWrite[]): Promise<void> {
    const first = group[0] as PendingWrite;
    if (this.#closed) {
      for (const write of group)
        write.reject(new SigilError(ErrorCode.UNAVAILABLE, `${write.action}: the store is not open`));
      return;
    }
    let release!: () => void;
    this.#turn = new Promise((resolve) => {
      release = resolve;
    });
    const done: { write: PendingWrite; value: unknown }[] = [];
    try {
      try {
        this.#exec(first.action, 'BEGIN IMMEDIATE');
      } catch (err) {
        for (const write of group) write.reject(err);
        return;
      }
      const savepoints = group.length > 1;
      for (let i = 0; i < group.length; i++) {
        const write = group[i] as PendingWrite;
        try {
          if (savepoints) this.#db.exec('SAVEPOINT sigil_write');
          const value = await write.body(this.#direct);
          if (savepoints) this.#db.exec('RELEASE sigil_write');
          done.push({ write, value });
        } catch (err) {
          if (!this.#db.isTransaction) {
            // SQLite rolled the whole transaction back (a full disk, an I/O error): every write of the group so far
            // is gone. They fail with this error; the ones not yet run wait for the next group.
            const failure = translateSqliteError(err, this.#path, write.action);
            for (const d of done) d.write.reject(failure);
            write.reject(failure);
            this.#pending = [...group.slice(i + 1), ...this.#pending];
            return;
          }
          if (savepoints) this.#db.exec('ROLLBACK TO sigil_write; RELEASE sigil_write');
          else this.#db.exec('ROLLBACK');
          write.reject(translateSqliteError(err, this.#path, write.action));
        }
      }
      if (!this.#db.isTransaction) return; // a single write that failed was rolled back above
      try {
        this.#exec(first.action, 'COMMIT');
      } catch (err) {
        if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
        for (const d of done) d.write.reject(err);
        return;
      }
      for (const d of done) d.write.resolve(d.value);
    } finally {
      this.#turn = undefined;
      release();
    }
  }

  /** Waits for the writes already asked for to be committed (or refused), then closes. */
  async close(): Promise<void> {
    while (this.#committing || this.#turn) await (this.#committing ?? this.#turn);
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
