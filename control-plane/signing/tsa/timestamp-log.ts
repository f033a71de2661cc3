import { randomBytes as nodeRandomBytes } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { type Clock, systemClock } from '../../../common/clock.ts';
import type { Migration } from '../../store/migrations.ts';
import { openSqlite, translateSqliteError } from '../../store/sqlite-open.ts';

/** One issued token, as the TSA records it. Times are Unix milliseconds. */
export interface TimestampRecord {
  /** The token's serial, lowercase hex without leading zeros. */
  readonly serial: string;
  readonly genTime: number;
  readonly policy: string;
  readonly hashAlgorithm: string;
  /** Hex of the message imprint. */
  readonly imprint: string;
  readonly nonce: string | null;
  /** The requester's address, as the HTTP edge saw it. */
  readonly client: string;
  /** The TimeStampToken (ContentInfo DER). */
  readonly token: Uint8Array;
}

/** Where a TSA gets serials and records what it issued. */
export interface TimestampLog {
  /** A serial never handed out before by this log, as the DER INTEGER content of a positive number. */
  nextSerial(): Promise<Uint8Array>;
  record(entry: TimestampRecord): Promise<void>;
  /** Newest first. */
  list(options?: { readonly limit?: number }): Promise<Omit<TimestampRecord, 'token'>[]>;
  get(serial: string): Promise<TimestampRecord | undefined>;
  close(): void;
}

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'tsa serials and tokens',
    sql: `
      CREATE TABLE tsa_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE tsa_tokens (
        serial TEXT PRIMARY KEY,
        gen_time INTEGER NOT NULL,
        policy TEXT NOT NULL,
        hash_algorithm TEXT NOT NULL,
        imprint TEXT NOT NULL,
        nonce TEXT,
        client TEXT NOT NULL,
        token BLOB NOT NULL
      );
      CREATE INDEX tsa_tokens_gen_time ON tsa_tokens (gen_time);
    `,
  },
];

function summaryOf(r: Record<string, unknown>): Omit<TimestampRecord, 'token'> {
  return {
    serial: String(r['serial']),
    genTime: Number(r['gen_time']),
    policy: String(r['policy']),
    hashAlgorithm: String(r['hash_algorithm']),
    imprint: String(r['imprint']),
    nonce: r['nonce'] === null ? null : String(r['nonce']),
    client: String(r['client']),
  };
}

export interface SqliteTimestampLogOptions {
  readonly path: string;
  readonly clock?: Clock;
  /** Draws the log's serial prefix once, at creation. */
  readonly randomBytes?: (size: number) => Uint8Array;
}

/**
 * Serials are 16 bytes: 8 random bytes drawn when the log file is created, then a counter persisted in the same
 * file. The counter survives restarts; the prefix keeps serials from repeating even if the file is lost and a new
 * one is started for the same TSA certificate.
 */
export class SqliteTimestampLog implements TimestampLog {
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #prefix: Uint8Array;

  constructor(options: SqliteTimestampLogOptions) {
    this.#path = options.path;
    this.#db = openSqlite({
      path: options.path,
      clock: options.clock ?? systemClock,
      busyTimeoutMs: 5000,
      migrations: MIGRATIONS,
    });
    const random = options.randomBytes ?? ((n) => new Uint8Array(nodeRandomBytes(n)));
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const seed = Uint8Array.from(random(8));
      seed[0] = seed[0]! & 0x7f || 1;
      this.#db
        .prepare("INSERT OR IGNORE INTO tsa_meta (key, value) VALUES ('serial_prefix', ?), ('serial_counter', '0')")
        .run(Buffer.from(seed).toString('hex'));
      const row = this.#db.prepare("SELECT value FROM tsa_meta WHERE key = 'serial_prefix'").get();
      this.#prefix = new Uint8Array(Buffer.from(String(row?.['value']), 'hex'));
      this.#db.exec('COMMIT');
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
      this.#db.close();
      throw translateSqliteError(err, options.path, 'opening the TSA log');
    }
  }

  async nextSerial(): Promise<Uint8Array> {
    const row = this.#run('allocating a serial', () =>
      this.#db
        .prepare(
          "UPDATE tsa_meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'serial_counter' RETURNING value",
        )
        .get(),
    );
    const counter = Buffer.alloc(8);
    counter.writeBigUInt64BE(BigInt(String(row?.['value'])));
    return new Uint8Array(Buffer.concat([this.#prefix, counter]));
  }

  async record(entry: TimestampRecord): Promise<void> {
    this.#run('recording a token', () =>
      this.#db
        .prepare(
          `INSERT INTO tsa_tokens (serial, gen_time, policy, hash_algorithm, imprint, nonce, client, token)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          entry.serial,
          entry.genTime,
          entry.policy,
          entry.hashAlgorithm,
          entry.imprint,
          entry.nonce,
          entry.client,
          entry.token,
        ),
    );
  }

  async list(options: { readonly limit?: number } = {}): Promise<Omit<TimestampRecord, 'token'>[]> {
    const rows = this.#run('listing tokens', () =>
      this.#db
        .prepare(
          'SELECT serial, gen_time, policy, hash_algorithm, imprint, nonce, client FROM tsa_tokens ORDER BY gen_time DESC, serial DESC LIMIT ?',
        )
        .all(options.limit ?? -1),
    );
    return rows.map(summaryOf);
  }

  async get(serial: string): Promise<TimestampRecord | undefined> {
    const r = this.#run('reading a token', () =>
      this.#db.prepare('SELECT * FROM tsa_tokens WHERE serial = ?').get(serial),
    );
    return r ? { ...summaryOf(r), token: new Uint8Array(r['token'] as Uint8Array) } : undefined;
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  #run<T>(action: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw translateSqliteError(err, this.#path, action);
    }
  }
}
