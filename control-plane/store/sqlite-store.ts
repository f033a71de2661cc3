import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { type Clock, systemClock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { KeyType } from '../../common/key-type.ts';
import type { Migration } from './migrations.ts';
import { openSqlite, translateSqliteError } from './sqlite-open.ts';
import type {
  CertificateFilter,
  CertificateKind,
  CertificateRecord,
  CertificateStatus,
  ConsumeTokenResult,
  JoinTokenRecord,
  RevocationRecord,
  RevokedIdentityRecord,
  RevokeIdentityResult,
  RotationOrderRecord,
  Store,
} from './store.ts';

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
    supersededBy: (row['superseded_by'] as string | null) ?? null,
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

function revocationOf(row: Row): RevocationRecord {
  return {
    serial: row['serial'] as string,
    spiffeId: row['spiffe_id'] as string,
    reason: row['reason'] as string,
    revokedAt: Number(row['revoked_at']),
    effectiveAt: Number(row['effective_at']),
    notAfter: Number(row['not_after']),
    listedPastExpiry: Number(row['listed_past_expiry'] ?? 0) === 1,
  };
}

function revokedIdentityOf(row: Row): RevokedIdentityRecord {
  return {
    spiffeId: row['spiffe_id'] as string,
    reason: row['reason'] as string,
    revokedAt: Number(row['revoked_at']),
  };
}

function rotationOrderOf(row: Row): RotationOrderRecord {
  return {
    orderId: row['order_id'] as string,
    targetKind: row['target_kind'] as RotationOrderRecord['targetKind'],
    target: row['target'] as string,
    windowMs: Number(row['window_ms']),
    reason: row['reason'] as string,
    createdAt: Number(row['created_at']),
  };
}

/**
 * The embedded store: one SQLite file (node:sqlite, WAL). node:sqlite is synchronous, so every method runs to
 * completion before it returns and each statement is its own atomic transaction.
 */
export class SqliteStore implements Store {
  readonly #options: SqliteStoreOptions;
  #db: DatabaseSync | undefined;
  readonly #statements = new Map<string, StatementSync>();

  constructor(options: SqliteStoreOptions) {
    this.#options = options;
  }

  /** Refuses (without changing the file) a non-SQLite or damaged file (STORE_CORRUPT) or a newer schema (STORE_SCHEMA_NEWER). */
  async open(): Promise<void> {
    if (this.#db) return;
    this.#db = openSqlite({
      path: this.#options.path,
      clock: this.#options.clock ?? systemClock,
      busyTimeoutMs: this.#options.busyTimeoutMs ?? 5000,
      ...(this.#options.migrations ? { migrations: this.#options.migrations } : {}),
    });
  }

  async close(): Promise<void> {
    this.#statements.clear();
    this.#db?.close();
    this.#db = undefined;
  }

  /** Runs one cached prepared statement; driver errors leave as SigilErrors (conflict, busy, damaged). */
  #with<T>(action: string, sql: string, use: (stmt: StatementSync) => T): T {
    const db = this.#db;
    if (!db) throw new SigilError(ErrorCode.UNAVAILABLE, `${action}: the store is not open`);
    try {
      let stmt = this.#statements.get(sql);
      if (!stmt) {
        stmt = db.prepare(sql);
        this.#statements.set(sql, stmt);
      }
      return use(stmt);
    } catch (err) {
      throw translateSqliteError(err, this.#options.path, action);
    }
  }

  async insertCertificate(r: CertificateRecord, options: { readonly supersedes?: string } = {}): Promise<void> {
    const insert = () =>
      this.#with(
        `recording certificate ${r.serial}`,
        `INSERT INTO certificates (serial, spiffe_id, kind, key_type, not_before, not_after,
      issuer_serial, status, issued_at, public_key_sha256, der) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        (s) =>
          s.run(
            r.serial,
            r.spiffeId,
            r.kind,
            r.keyType,
            r.notBefore,
            r.notAfter,
            r.issuerSerial,
            r.status,
            r.issuedAt,
            r.publicKeySha256,
            r.der,
          ),
      );
    const { supersedes } = options;
    if (supersedes === undefined) return void insert();
    this.#transaction(`recording certificate ${r.serial}`, () => {
      insert();
      this.#with('recording a renewal', 'UPDATE certificates SET superseded_by = ? WHERE serial = ?', (s) =>
        s.run(r.serial, supersedes),
      );
    });
  }

  async getCertificate(serial: string): Promise<CertificateRecord | undefined> {
    const row = this.#with('reading a certificate', 'SELECT * FROM certificates WHERE serial = ?', (s) =>
      s.get(serial),
    );
    return row ? certificateOf(row) : undefined;
  }

  async listCertificates(filter: CertificateFilter = {}): Promise<CertificateRecord[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.spiffeId !== undefined) {
      where.push('spiffe_id = ?');
      args.push(filter.spiffeId);
    }
    if (filter.kind !== undefined) {
      where.push('kind = ?');
      args.push(filter.kind);
    }
    if (filter.status !== undefined) {
      where.push('status = ?');
      args.push(filter.status);
    }
    if (filter.notAfterBefore !== undefined) {
      where.push('not_after <= ?');
      args.push(filter.notAfterBefore);
    }
    if (filter.notAfterAfter !== undefined) {
      where.push('not_after > ?');
      args.push(filter.notAfterAfter);
    }
    // At most 2^5 distinct texts, so caching each shape is bounded.
    const sql = `SELECT * FROM certificates${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY not_after, serial`;
    return this.#with('listing certificates', sql, (s) => s.all(...args)).map(certificateOf);
  }

  async hasPublicKey(publicKeySha256: string): Promise<boolean> {
    const row = this.#with(
      'looking up a public key',
      'SELECT 1 FROM certificates WHERE public_key_sha256 = ? LIMIT 1',
      (s) => s.get(publicKeySha256),
    );
    return row !== undefined;
  }

  async insertJoinToken(r: JoinTokenRecord): Promise<void> {
    this.#with(
      'recording a join token',
      'INSERT INTO join_tokens (token_hash, spiffe_id, created_at, expires_at, uses_remaining) VALUES (?, ?, ?, ?, ?)',
      (s) => s.run(r.tokenHash, r.spiffeId, r.createdAt, r.expiresAt, r.usesRemaining),
    );
  }

  async getJoinToken(tokenHash: string): Promise<JoinTokenRecord | undefined> {
    const row = this.#with('reading a join token', 'SELECT * FROM join_tokens WHERE token_hash = ?', (s) =>
      s.get(tokenHash),
    );
    return row ? tokenOf(row) : undefined;
  }

  /**
   * One conditional UPDATE is atomic across connections and processes; RETURNING hands back the row as left by
   * this use. On failure the row is read to name the reason; uses only ever go down, so that reading is safe.
   */
  async consumeJoinToken(tokenHash: string, now: number): Promise<ConsumeTokenResult> {
    const row = this.#with(
      'using a join token',
      'UPDATE join_tokens SET uses_remaining = uses_remaining - 1 WHERE token_hash = ? AND uses_remaining > 0 AND expires_at > ? RETURNING *',
      (s) => s.get(tokenHash, now),
    );
    if (row) return { ok: true, token: tokenOf(row) };
    const existing = await this.getJoinToken(tokenHash);
    if (!existing) return { ok: false, reason: 'unknown' };
    return { ok: false, reason: existing.expiresAt <= now ? 'expired' : 'used' };
  }

  /**
   * Runs `body` inside BEGIN IMMEDIATE … COMMIT. node:sqlite is synchronous, so nothing else in this process runs
   * in between; IMMEDIATE takes the write lock up front against other processes.
   */
  #transaction<T>(action: string, body: () => T): T {
    const db = this.#db;
    if (!db) throw new SigilError(ErrorCode.UNAVAILABLE, `${action}: the store is not open`);
    try {
      db.exec('BEGIN IMMEDIATE');
    } catch (err) {
      throw translateSqliteError(err, this.#options.path, action);
    }
    try {
      const result = body();
      db.exec('COMMIT');
      return result;
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK');
      throw translateSqliteError(err, this.#options.path, action);
    }
  }

  #revokeEach(records: readonly RevocationRecord[]): string[] {
    const added: string[] = [];
    for (const r of records) {
      const row = this.#with(
        `revoking certificate ${r.serial}`,
        `INSERT INTO revocations (serial, spiffe_id, reason, revoked_at, effective_at, not_after, listed_past_expiry)
        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (serial) DO NOTHING RETURNING serial`,
        (s) =>
          s.get(r.serial, r.spiffeId, r.reason, r.revokedAt, r.effectiveAt, r.notAfter, r.listedPastExpiry ? 1 : 0),
      );
      this.#with(
        `revoking certificate ${r.serial}`,
        "UPDATE certificates SET status = 'revoked' WHERE serial = ?",
        (s) => s.run(r.serial),
      );
      if (row) added.push(r.serial);
    }
    return added;
  }

  async revokeCertificates(records: readonly RevocationRecord[]): Promise<string[]> {
    return this.#transaction('revoking certificates', () => this.#revokeEach(records));
  }

  async getRevocation(serial: string): Promise<RevocationRecord | undefined> {
    const row = this.#with('reading a revocation', 'SELECT * FROM revocations WHERE serial = ?', (s) => s.get(serial));
    return row ? revocationOf(row) : undefined;
  }

  async listRevocations(filter: { readonly notAfterAfter?: number } = {}): Promise<RevocationRecord[]> {
    if (filter.notAfterAfter === undefined) {
      return this.#with('listing revocations', 'SELECT * FROM revocations ORDER BY serial', (s) => s.all()).map(
        revocationOf,
      );
    }
    return this.#with(
      'listing revocations',
      'SELECT * FROM revocations WHERE not_after > ? OR listed_past_expiry = 1 ORDER BY serial',
      (s) => s.all(filter.notAfterAfter!),
    ).map(revocationOf);
  }

  async revokeIdentity(
    identity: RevokedIdentityRecord,
    certificates: readonly RevocationRecord[],
  ): Promise<RevokeIdentityResult> {
    return this.#transaction(`revoking identity ${identity.spiffeId}`, () => {
      const row = this.#with(
        'recording a revoked identity',
        'INSERT INTO revoked_identities (spiffe_id, reason, revoked_at) VALUES (?, ?, ?) ON CONFLICT (spiffe_id) DO NOTHING RETURNING spiffe_id',
        (s) => s.get(identity.spiffeId, identity.reason, identity.revokedAt),
      );
      return { identityAdded: row !== undefined, revokedSerials: this.#revokeEach(certificates) };
    });
  }

  async unrevokeIdentity(spiffeId: string): Promise<boolean> {
    const row = this.#with(
      'unrevoking an identity',
      'DELETE FROM revoked_identities WHERE spiffe_id = ? RETURNING spiffe_id',
      (s) => s.get(spiffeId),
    );
    return row !== undefined;
  }

  async getRevokedIdentity(spiffeId: string): Promise<RevokedIdentityRecord | undefined> {
    const row = this.#with('reading a revoked identity', 'SELECT * FROM revoked_identities WHERE spiffe_id = ?', (s) =>
      s.get(spiffeId),
    );
    return row ? revokedIdentityOf(row) : undefined;
  }

  async listRevokedIdentities(): Promise<RevokedIdentityRecord[]> {
    return this.#with('listing revoked identities', 'SELECT * FROM revoked_identities ORDER BY spiffe_id', (s) =>
      s.all(),
    ).map(revokedIdentityOf);
  }

  async insertRotationOrder(r: RotationOrderRecord): Promise<void> {
    this.#with(
      `recording rotation order ${r.orderId}`,
      'INSERT INTO rotation_orders (order_id, target_kind, target, window_ms, reason, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      (s) => s.run(r.orderId, r.targetKind, r.target, r.windowMs, r.reason, r.createdAt),
    );
  }

  async getRotationOrder(orderId: string): Promise<RotationOrderRecord | undefined> {
    const row = this.#with('reading a rotation order', 'SELECT * FROM rotation_orders WHERE order_id = ?', (s) =>
      s.get(orderId),
    );
    return row ? rotationOrderOf(row) : undefined;
  }

  async latestRotationOrder(): Promise<RotationOrderRecord | undefined> {
    const row = this.#with(
      'reading the latest rotation order',
      'SELECT * FROM rotation_orders ORDER BY created_at DESC, order_id DESC LIMIT 1',
      (s) => s.get(),
    );
    return row ? rotationOrderOf(row) : undefined;
  }

  async listRotationOrders(createdAfter: number): Promise<RotationOrderRecord[]> {
    return this.#with(
      'listing rotation orders',
      'SELECT * FROM rotation_orders WHERE created_at > ? ORDER BY created_at, order_id',
      (s) => s.all(createdAfter),
    ).map(rotationOrderOf);
  }

  async getMeta(key: string): Promise<string | undefined> {
    const row = this.#with('reading metadata', 'SELECT value FROM meta WHERE key = ?', (s) => s.get(key));
    return row ? String(row['value']) : undefined;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.#with(
      'writing metadata',
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      (s) => s.run(key, value),
    );
  }

  async nextSequence(name: string): Promise<number> {
    const row = this.#with(
      `advancing sequence ${name}`,
      'INSERT INTO sequences (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value',
      (s) => s.get(name),
    );
    return Number(row?.['value']);
  }

  async currentSequence(name: string): Promise<number> {
    const row = this.#with(`reading sequence ${name}`, 'SELECT value FROM sequences WHERE name = ?', (s) =>
      s.get(name),
    );
    return row ? Number(row['value']) : 0;
  }
}
