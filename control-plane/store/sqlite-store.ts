import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { KeyType } from '../../common/key-type.ts';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from './migrations.ts';
import type {
  CertificateFilter, CertificateKind, CertificateRecord, CertificateStatus, ConsumeTokenResult, JoinTokenRecord, Store,
} from './store.ts';

const SQLITE_MAGIC = 'SQLite format 3\0';

type Row = Record<string, unknown>;

function certificateOf(row: Row): CertificateRecord {
  return {
    serial: row['serial'] as string,
    spiffeId: row['spiffe_id'] as string,
    kind: row['kind'] as CertificateKind,
    keyType: row['key_type'] as KeyType,
    notBefore: Number(row['not_before']),
    notAfter: Number(row['not_after']),
    issuerSerial: (row['issuer_serial'] as string | null) ?? null,
    status: row['status'] as CertificateStatus,
    issuedAt: Number(row['issued_at']),
    publicKeySha256: row['public_key_sha256'] as string,
    der: new Uint8Array(row['der'] as Uint8Array),
  };
}

function tokenOf(row: Row): JoinTokenRecord {
  return {
    tokenHash: row['token_hash'] as string,
    spiffeId: row['spiffe_id'] as string,
    createdAt: Number(row['created_at']),
    expiresAt: Number(row['expires_at']),
    usesRemaining: Number(row['uses_remaining']),
  };
}

/**
 * The embedded store: one SQLite file (node:sqlite, WAL). A file that is not a SQLite database is refused before
 * anything is written to it, so a wrong path or a damaged file is never "repaired" into an empty store.
 */
export class SqliteStore implements Store {
  readonly #path: string;
  #db: DatabaseSync | undefined;
  readonly #statements = new Map<string, StatementSync>();

  constructor(options: { path: string }) {
    this.#path = options.path;
  }

  async open(): Promise<void> {
    if (this.#db) return;
    if (!existsSync(dirname(this.#path))) {
      throw new SigilError(ErrorCode.STORE_CORRUPT, `the store's directory ${dirname(this.#path)} does not exist: create it or fix store.sqlite`);
    }
    if (existsSync(this.#path)) this.#checkHeader();
    else closeSync(openSync(this.#path, 'a', 0o600));
    const db = new DatabaseSync(this.#path);
    try {
      db.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;');
      this.#migrate(db);
    } catch (err) {
      db.close();
      if (err instanceof SigilError) throw err;
      throw new SigilError(ErrorCode.STORE_CORRUPT, `the store ${this.#path} cannot be read (${(err as Error).message}): restore it from a backup`, { cause: err });
    }
    this.#db = db;
  }

  async close(): Promise<void> {
    this.#statements.clear();
    this.#db?.close();
    this.#db = undefined;
  }

  #checkHeader(): void {
    const fd = openSync(this.#path, 'r');
    try {
      const header = Buffer.alloc(16);
      const n = readSync(fd, header, 0, 16, 0);
      if (n === 0) return;
      if (n < 16 || header.toString('latin1') !== SQLITE_MAGIC) {
        throw new SigilError(ErrorCode.STORE_CORRUPT, `${this.#path} is not a Sigil store (not a SQLite database); nothing was changed: check store.sqlite, or restore the file from a backup`);
      }
    } finally {
      closeSync(fd);
    }
  }

  #migrate(db: DatabaseSync): void {
    db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as Row | undefined;
    const current = Number(row?.['v'] ?? 0);
    if (current > LATEST_SCHEMA_VERSION) {
      throw new SigilError(ErrorCode.STORE_SCHEMA_NEWER, `${this.#path} has schema version ${current}, this Sigil knows up to ${LATEST_SCHEMA_VERSION}: the database was written by a newer Sigil; upgrade Sigil`);
    }
    for (const migration of MIGRATIONS.filter((m) => m.version > current)) {
      db.exec('BEGIN IMMEDIATE');
      try {
        db.exec(migration.sql);
        db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, Date.now());
        db.exec('COMMIT');
      } catch (err) {
        db.exec('ROLLBACK');
        throw err;
      }
    }
  }

  #stmt(sql: string): StatementSync {
    const db = this.#db;
    if (!db) throw new SigilError(ErrorCode.UNAVAILABLE, 'the store is not open');
    let stmt = this.#statements.get(sql);
    if (!stmt) {
      stmt = db.prepare(sql);
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }

  async insertCertificate(r: CertificateRecord): Promise<void> {
    this.#stmt(`INSERT INTO certificates (serial, spiffe_id, kind, key_type, not_before, not_after, issuer_serial, status, issued_at, public_key_sha256, der)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(r.serial, r.spiffeId, r.kind, r.keyType, r.notBefore, r.notAfter, r.issuerSerial, r.status, r.issuedAt, r.publicKeySha256, r.der);
  }

  async getCertificate(serial: string): Promise<CertificateRecord | undefined> {
    const row = this.#stmt('SELECT * FROM certificates WHERE serial = ?').get(serial) as Row | undefined;
    return row ? certificateOf(row) : undefined;
  }

  async listCertificates(filter: CertificateFilter = {}): Promise<CertificateRecord[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.spiffeId !== undefined) { where.push('spiffe_id = ?'); args.push(filter.spiffeId); }
    if (filter.kind !== undefined) { where.push('kind = ?'); args.push(filter.kind); }
    if (filter.status !== undefined) { where.push('status = ?'); args.push(filter.status); }
    if (filter.notAfterBefore !== undefined) { where.push('not_after <= ?'); args.push(filter.notAfterBefore); }
    if (filter.notAfterAfter !== undefined) { where.push('not_after > ?'); args.push(filter.notAfterAfter); }
    const sql = `SELECT * FROM certificates${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY not_after, serial`;
    return (this.#stmt(sql).all(...args) as Row[]).map(certificateOf);
  }

  async hasPublicKey(publicKeySha256: string): Promise<boolean> {
    return this.#stmt('SELECT 1 FROM certificates WHERE public_key_sha256 = ? LIMIT 1').get(publicKeySha256) !== undefined;
  }

  async insertJoinToken(r: JoinTokenRecord): Promise<void> {
    this.#stmt('INSERT INTO join_tokens (token_hash, spiffe_id, created_at, expires_at, uses_remaining) VALUES (?, ?, ?, ?, ?)')
      .run(r.tokenHash, r.spiffeId, r.createdAt, r.expiresAt, r.usesRemaining);
  }

  async getJoinToken(tokenHash: string): Promise<JoinTokenRecord | undefined> {
    const row = this.#stmt('SELECT * FROM join_tokens WHERE token_hash = ?').get(tokenHash) as Row | undefined;
    return row ? tokenOf(row) : undefined;
  }

  async consumeJoinToken(tokenHash: string, now: number): Promise<ConsumeTokenResult> {
    // One conditional UPDATE is atomic across processes; RETURNING hands back the row it changed.
    const row = this.#stmt('UPDATE join_tokens SET uses_remaining = uses_remaining - 1 WHERE token_hash = ? AND uses_remaining > 0 AND expires_at > ? RETURNING *')
      .get(tokenHash, now) as Row | undefined;
    if (row) return { ok: true, token: tokenOf(row) };
    const existing = await this.getJoinToken(tokenHash);
    if (!existing) return { ok: false, reason: 'unknown' };
    return { ok: false, reason: existing.expiresAt <= now ? 'expired' : 'used' };
  }

  async getMeta(key: string): Promise<string | undefined> {
    const row = this.#stmt('SELECT value FROM meta WHERE key = ?').get(key) as Row | undefined;
    return row ? (row['value'] as string) : undefined;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.#stmt('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  async nextSequence(name: string): Promise<number> {
    const row = this.#stmt('INSERT INTO sequences (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value').get(name) as Row;
    return Number(row['value']);
  }

  async currentSequence(name: string): Promise<number> {
    const row = this.#stmt('SELECT value FROM sequences WHERE name = ?').get(name) as Row | undefined;
    return row ? Number(row['value']) : 0;
  }
}
