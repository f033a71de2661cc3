import { ErrorCode, SigilError } from '../../common/errors.ts';
import * as auditFleet from './sql-audit-fleet.ts';
import * as listing from './sql-inventory-listing.ts';
import type { Row, SqlDatabase, SqlExecutor, SqlValue } from './sql-database.ts';
import type { AlertRecord, AlertResolution } from '../lifecycle/alert-plan.ts';
import {
  alertDeliveryOf,
  alertOf,
  caFileOf,
  certificateOf,
  chainText,
  certificateAnnotationOf,
  inventoryCertificateOf,
  revocationOf,
  revokedIdentityOf,
  rotationOrderOf,
  sightingOf,
  tokenOf,
} from './store-rows.ts';
import type {
  AdminIdentityRecord,
  AuditFilter,
  AuditRecord,
  SidecarContact,
  SidecarContactRecord,
  AlertDeliveryRecord,
  CertificateAnnotationRecord,
  InventoryCertificateRecord,
  InventoryFilter,
  InventoryListingQuery,
  InventoryListingRow,
  InventoryListingWrite,
  ListingOrigin,
  UnlistedCertificate,
  SightingRecord,
  CaFileRecord,
  CertificateFilter,
  CertificateRecord,
  CertificateStatus,
  ConsumeTokenResult,
  JoinTokenRecord,
  MetaEntry,
  RevocationRecord,
  RevokedIdentityRecord,
  RevokeIdentityResult,
  RotationOrderRecord,
  Store,
} from './store.ts';

/** Rolls back a certificate insert whose join token could not be used (the thrown value never leaves this file). */
class TokenRefused extends Error {
  readonly result: ConsumeTokenResult;
  constructor(result: ConsumeTokenResult) {
    super('join token refused');
    this.result = result;
  }
}

/** Rolls back a CA write that lost the race (the thrown value never leaves this file). */
class StaleGeneration extends Error {}

/**
 * Every Store method, written once for both engines (see the pattern at the top of store.ts). Subclasses only say
 * how to open their database: SqliteStore (one file) and PostgresStore (a pool, migrations under an advisory lock).
 */
export abstract class SqlStore implements Store {
  #db: SqlDatabase | undefined;
  #opening: Promise<SqlDatabase> | undefined;

  /** Opens and migrates the database; refuses (changing nothing) one that is not Sigil's or is newer. */
  protected abstract connect(): Promise<SqlDatabase>;

  async open(): Promise<void> {
    if (this.#db) return;
    this.#opening ??= this.connect().finally(() => {
      this.#opening = undefined;
    });
    this.#db = await this.#opening;
  }

  async close(): Promise<void> {
    const db = this.#db;
    this.#db = undefined;
    await db?.close();
  }

  /** The open database, for engine-specific work beside the Store methods (copying, coordination). */
  protected get db(): SqlDatabase {
    if (!this.#db) throw new SigilError(ErrorCode.UNAVAILABLE, 'the store is not open');
    return this.#db;
  }

  /** Every table but schema_migrations, sorted: what `sigil store migrate` copies. */
  async tableNames(x: SqlExecutor = this.db): Promise<string[]> {
    const rows =
      this.db.dialect === 'sqlite'
        ? await x.all(
            'listing tables',
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
          )
        : await x.all(
            'listing tables',
            "SELECT c.relname AS name FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')",
          );
    return rows
      .map((r) => String(r['name']))
      .filter((name) => name !== 'schema_migrations')
      .sort();
  }

  async schemaVersion(x: SqlExecutor = this.db): Promise<number> {
    const row = await x.get('reading the schema version', 'SELECT MAX(version) AS v FROM schema_migrations');
    return Number(row?.['v'] ?? 0);
  }

  /** Runs `body` in one transaction over the raw tables: copying a whole store, all or nothing. */
  withTables<T>(action: string, body: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.db.transaction(action, body);
  }

  async insertCertificate(
    r: CertificateRecord,
    options: { readonly supersedes?: string; readonly consumeToken?: { tokenHash: string; now: number } } = {},
  ): Promise<ConsumeTokenResult | undefined> {
    const action = `recording certificate ${r.serial}`;
    const insert = (x: SqlExecutor) =>
      x.run(
        action,
        `INSERT INTO certificates (serial, spiffe_id, kind, key_type, not_before, not_after,
        issuer_serial, status, issued_at, public_key_sha256, der) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
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
        ],
      );
    const { supersedes, consumeToken } = options;
    if (supersedes === undefined && consumeToken === undefined) return void (await insert(this.db));
    return this.db
      .transaction(action, async (tx) => {
        let used: ConsumeTokenResult | undefined;
        if (consumeToken) {
          used = await this.#consume(tx, consumeToken.tokenHash, consumeToken.now);
          // Thrown to roll the transaction back; turned into the result below.
          if (!used.ok) throw new TokenRefused(used);
        }
        await insert(tx);
        if (supersedes !== undefined) {
          await tx.run('recording a renewal', 'UPDATE certificates SET superseded_by = ? WHERE serial = ?', [
            r.serial,
            supersedes,
          ]);
          await listing.syncCaCertificate(tx, supersedes);
        }
        return used;
      })
      .catch(async (err: unknown) => {
        if (!(err instanceof TokenRefused)) throw err;
        return err.result;
      });
  }

  async getCertificate(serial: string): Promise<CertificateRecord | undefined> {
    const row = await this.db.get('reading a certificate', 'SELECT * FROM certificates WHERE serial = ?', [serial]);
    return row ? certificateOf(row) : undefined;
  }

  async listCertificates(filter: CertificateFilter = {}): Promise<CertificateRecord[]> {
    const where: string[] = [];
    const args: SqlValue[] = [];
    const add = (clause: string, value: SqlValue | undefined) => {
      if (value === undefined) return;
      where.push(clause);
      args.push(value);
    };
    add('spiffe_id = ?', filter.spiffeId);
    add('kind = ?', filter.kind);
    add('status = ?', filter.status);
    add('not_after <= ?', filter.notAfterBefore);
    add('not_after > ?', filter.notAfterAfter);
    // At most 2^5 distinct texts, so caching each shape is bounded.
    const sql = `SELECT * FROM certificates${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY not_after, serial`;
    return (await this.db.all('listing certificates', sql, args)).map(certificateOf);
  }

  async hasPublicKey(publicKeySha256: string): Promise<boolean> {
    const row = await this.db.get(
      'looking up a public key',
      'SELECT 1 AS found FROM certificates WHERE public_key_sha256 = ? LIMIT 1',
      [publicKeySha256],
    );
    return row !== undefined;
  }

  async insertJoinToken(r: JoinTokenRecord): Promise<void> {
    await this.db.run(
      'recording a join token',
      'INSERT INTO join_tokens (token_hash, spiffe_id, created_at, expires_at, uses_remaining, match_prefix, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      [r.tokenHash, r.spiffeId, r.createdAt, r.expiresAt, r.usesRemaining, r.matchPrefix ? 1 : 0, r.revokedAt ?? null],
    );
  }

  async getJoinToken(tokenHash: string): Promise<JoinTokenRecord | undefined> {
    const row = await this.db.get('reading a join token', 'SELECT * FROM join_tokens WHERE token_hash = ?', [
      tokenHash,
    ]);
    return row ? tokenOf(row) : undefined;
  }

  /**
   * One conditional UPDATE is atomic across connections, processes and replicas; RETURNING hands back the row as left
   * by this use. On failure the row is read to name the reason; uses only ever go down, so that reading is safe.
   */
  async consumeJoinToken(tokenHash: string, now: number): Promise<ConsumeTokenResult> {
    return this.#consume(this.db, tokenHash, now);
  }

  async #consume(x: SqlExecutor, tokenHash: string, now: number): Promise<ConsumeTokenResult> {
    const row = await x.get(
      'using a join token',
      'UPDATE join_tokens SET uses_remaining = uses_remaining - 1 WHERE token_hash = ? AND uses_remaining > 0 AND expires_at > ? AND revoked_at IS NULL RETURNING *',
      [tokenHash, now],
    );
    if (row) return { ok: true, token: tokenOf(row) };
    const existing = await x
      .get('reading a join token', 'SELECT * FROM join_tokens WHERE token_hash = ?', [tokenHash])
      .then((r) => (r ? tokenOf(r) : undefined));
    if (!existing) return { ok: false, reason: 'unknown' };
    if (existing.revokedAt !== undefined) return { ok: false, reason: 'revoked' };
    return { ok: false, reason: existing.expiresAt <= now ? 'expired' : 'used' };
  }

  async listJoinTokens(): Promise<JoinTokenRecord[]> {
    const rows = await this.db.all(
      'listing join tokens',
      'SELECT * FROM join_tokens ORDER BY created_at, token_hash',
      [],
    );
    return rows.map(tokenOf);
  }

  async revokeJoinToken(tokenHash: string, now: number): Promise<JoinTokenRecord | undefined> {
    await this.db.run(
      'revoking a join token',
      'UPDATE join_tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL',
      [now, tokenHash],
    );
    return this.getJoinToken(tokenHash);
  }

  /** Rows are written in serial order (two replicas revoking overlapping sets cannot deadlock); reported in input order. */
  async #revokeEach(tx: SqlExecutor, records: readonly RevocationRecord[]): Promise<string[]> {
    const added = new Set<string>();
    for (const r of [...records].sort((a, b) => (a.serial < b.serial ? -1 : a.serial > b.serial ? 1 : 0))) {
      const action = `revoking certificate ${r.serial}`;
      const row = await tx.get(
        action,
        `INSERT INTO revocations (serial, spiffe_id, reason, revoked_at, effective_at, not_after, listed_past_expiry)
        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (serial) DO NOTHING RETURNING serial`,
        [r.serial, r.spiffeId, r.reason, r.revokedAt, r.effectiveAt, r.notAfter, r.listedPastExpiry ? 1 : 0],
      );
      await tx.run(action, "UPDATE certificates SET status = 'revoked' WHERE serial = ?", [r.serial]);
      await listing.syncCaCertificate(tx, r.serial);
      if (row) added.add(r.serial);
    }
    const reported = new Set<string>();
    return records
      .map((r) => r.serial)
      .filter((serial) => added.has(serial) && !reported.has(serial) && reported.add(serial) !== undefined);
  }

  async setCertificateStatus(serial: string, status: CertificateStatus): Promise<boolean> {
    return this.db.transaction(`setting the status of certificate ${serial}`, async (tx) => {
      const changed = await tx.run(
        `setting the status of certificate ${serial}`,
        'UPDATE certificates SET status = ? WHERE serial = ?',
        [status, serial],
      );
      await listing.syncCaCertificate(tx, serial);
      return changed > 0;
    });
  }

  async revokeCertificates(records: readonly RevocationRecord[], meta?: MetaEntry): Promise<string[]> {
    return this.db.transaction('revoking certificates', async (tx) => {
      const added = await this.#revokeEach(tx, records);
      if (meta) await this.#setMeta(tx, meta);
      return added;
    });
  }

  async getRevocation(serial: string): Promise<RevocationRecord | undefined> {
    const row = await this.db.get('reading a revocation', 'SELECT * FROM revocations WHERE serial = ?', [serial]);
    return row ? revocationOf(row) : undefined;
  }

  async listRevocations(filter: { readonly notAfterAfter?: number } = {}): Promise<RevocationRecord[]> {
    const rows =
      filter.notAfterAfter === undefined
        ? await this.db.all('listing revocations', 'SELECT * FROM revocations ORDER BY serial')
        : await this.db.all(
            'listing revocations',
            'SELECT * FROM revocations WHERE not_after > ? OR listed_past_expiry = 1 ORDER BY serial',
            [filter.notAfterAfter],
          );
    return rows.map(revocationOf);
  }

  async revokeIdentity(
    identity: RevokedIdentityRecord,
    certificates: readonly RevocationRecord[],
    meta?: MetaEntry,
  ): Promise<RevokeIdentityResult> {
    return this.db.transaction(`revoking identity ${identity.spiffeId}`, async (tx) => {
      const row = await tx.get(
        'recording a revoked identity',
        'INSERT INTO revoked_identities (spiffe_id, reason, revoked_at) VALUES (?, ?, ?) ON CONFLICT (spiffe_id) DO NOTHING RETURNING spiffe_id',
        [identity.spiffeId, identity.reason, identity.revokedAt],
      );
      const revokedSerials = await this.#revokeEach(tx, certificates);
      if (meta) await this.#setMeta(tx, meta);
      return { identityAdded: row !== undefined, revokedSerials };
    });
  }

  async unrevokeIdentity(spiffeId: string, meta?: MetaEntry): Promise<boolean> {
    return this.db.transaction(`unrevoking identity ${spiffeId}`, async (tx) => {
      const row = await tx.get(
        'unrevoking an identity',
        'DELETE FROM revoked_identities WHERE spiffe_id = ? RETURNING spiffe_id',
        [spiffeId],
      );
      if (meta) await this.#setMeta(tx, meta);
      return row !== undefined;
    });
  }

  async getRevokedIdentity(spiffeId: string): Promise<RevokedIdentityRecord | undefined> {
    const row = await this.db.get(
      'reading a revoked identity',
      'SELECT * FROM revoked_identities WHERE spiffe_id = ?',
      [spiffeId],
    );
    return row ? revokedIdentityOf(row) : undefined;
  }

  async listRevokedIdentities(): Promise<RevokedIdentityRecord[]> {
    const rows = await this.db.all('listing revoked identities', 'SELECT * FROM revoked_identities ORDER BY spiffe_id');
    return rows.map(revokedIdentityOf);
  }

  async insertRotationOrder(r: RotationOrderRecord): Promise<void> {
    await this.db.run(
      `recording rotation order ${r.orderId}`,
      'INSERT INTO rotation_orders (order_id, target_kind, target, window_ms, reason, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      [r.orderId, r.targetKind, r.target, r.windowMs, r.reason, r.createdAt],
    );
  }

  async getRotationOrder(orderId: string): Promise<RotationOrderRecord | undefined> {
    const row = await this.db.get('reading a rotation order', 'SELECT * FROM rotation_orders WHERE order_id = ?', [
      orderId,
    ]);
    return row ? rotationOrderOf(row) : undefined;
  }

  async latestRotationOrder(): Promise<RotationOrderRecord | undefined> {
    const row = await this.db.get(
      'reading the latest rotation order',
      'SELECT * FROM rotation_orders ORDER BY created_at DESC, order_id DESC LIMIT 1',
    );
    return row ? rotationOrderOf(row) : undefined;
  }

  async listRotationOrders(createdAfter: number): Promise<RotationOrderRecord[]> {
    const rows = await this.db.all(
      'listing rotation orders',
      'SELECT * FROM rotation_orders WHERE created_at > ? ORDER BY created_at, order_id',
      [createdAfter],
    );
    return rows.map(rotationOrderOf);
  }

  async getCaFiles(): Promise<{ readonly generation: number; readonly files: CaFileRecord[] }> {
    return this.db.transaction('reading the CA files', async (tx) => {
      const generation = await tx.get(
        'reading the CA generation',
        "SELECT value FROM sequences WHERE name = 'ca.files'",
      );
      const rows = await tx.all('reading the CA files', 'SELECT * FROM ca_files ORDER BY name');
      return { generation: generation ? Number(generation['value']) : 0, files: rows.map(caFileOf) };
    });
  }

  async replaceCaFiles(files: readonly CaFileRecord[], expectedGeneration: number): Promise<number | undefined> {
    return this.db
      .transaction('storing the CA files', async (tx) => {
        const row = await tx.get(
          'advancing the CA generation',
          "INSERT INTO sequences (name, value) VALUES ('ca.files', 1) ON CONFLICT (name) DO UPDATE SET value = sequences.value + 1 RETURNING value",
        );
        const generation = Number(row?.['value']);
        // The row lock taken by the increment makes this check and the writes below one step across replicas.
        if (generation !== expectedGeneration + 1) throw new StaleGeneration();
        await tx.run('storing the CA files', 'DELETE FROM ca_files');
        for (const f of files) {
          await tx.run(
            `storing CA file ${f.name}`,
            'INSERT INTO ca_files (name, data, mode, sealed) VALUES (?, ?, ?, ?)',
            [f.name, f.data, f.mode, f.sealed ? 1 : 0],
          );
        }
        return generation;
      })
      .catch((err: unknown) => {
        if (err instanceof StaleGeneration) return undefined;
        throw err;
      });
  }

  async getMeta(key: string): Promise<string | undefined> {
    const row = await this.db.get('reading metadata', 'SELECT value FROM meta WHERE key = ?', [key]);
    return row ? String(row['value']) : undefined;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.#setMeta(this.db, { key, value });
  }

  async #setMeta(x: SqlExecutor, meta: MetaEntry): Promise<void> {
    await x.run(
      'writing metadata',
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      [meta.key, meta.value],
    );
  }

  async recordInventory(
    records: readonly InventoryCertificateRecord[],
    sightings: readonly SightingRecord[],
  ): Promise<void> {
    await this.db.transaction('recording certificates in the inventory', async (tx) => {
      const listed: { origin: ListingOrigin; ref: string }[] = [];
      for (const r of records) {
        const action = `recording certificate ${r.fingerprint}`;
        const known = await tx.get(action, 'SELECT owner, labels FROM inventory_certificates WHERE fingerprint = ?', [
          r.fingerprint,
        ]);
        if (known) {
          const labels = { ...(JSON.parse(known['labels'] as string) as Record<string, string>), ...r.labels };
          await tx.run(action, 'UPDATE inventory_certificates SET owner = ?, labels = ? WHERE fingerprint = ?', [
            r.owner === '' ? (known['owner'] as string) : r.owner,
            JSON.stringify(labels),
            r.fingerprint,
          ]);
          await listing.refreshAnnotations(tx, r.fingerprint);
          continue;
        }
        await tx.run(
          action,
          `INSERT INTO inventory_certificates (fingerprint, source, serial, name, subject, not_before, not_after, owner,
          labels, status, der, chain, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [
            r.fingerprint,
            r.source,
            r.serial,
            r.name,
            r.subject,
            r.notBefore,
            r.notAfter,
            r.owner,
            JSON.stringify(r.labels),
            r.status,
            r.der,
            chainText(r.chain),
            r.recordedAt,
          ],
        );
        if (r.facts) {
          const write = {
            origin: 'external',
            ref: r.fingerprint,
            source: r.source,
            kind: '',
            name: r.name,
            facts: r.facts,
          };
          await listing.insertListing(tx, write as InventoryListingWrite, {
            owner: r.owner,
            labels: { ...r.labels },
            status: r.status,
            supersededBy: null,
          });
          listed.push({ origin: 'external', ref: r.fingerprint });
        }
      }
      await listing.settle(tx, listed);
      for (const s of sightings) {
        await tx.run(
          `recording where ${s.fingerprint} was seen`,
          `INSERT INTO certificate_sightings (fingerprint, location, first_seen, last_seen) VALUES (?, ?, ?, ?)
          ON CONFLICT (fingerprint, location) DO UPDATE SET last_seen = excluded.last_seen`,
          [s.fingerprint, s.location, s.firstSeen, s.lastSeen],
        );
      }
    });
  }

  async getInventoryCertificate(fingerprint: string): Promise<InventoryCertificateRecord | undefined> {
    const row = await this.db.get(
      'reading an inventory certificate',
      'SELECT * FROM inventory_certificates WHERE fingerprint = ?',
      [fingerprint],
    );
    return row ? inventoryCertificateOf(row) : undefined;
  }

  async annotateCertificate(change: CertificateAnnotationRecord): Promise<CertificateAnnotationRecord> {
    return this.db.transaction(`labelling certificate ${change.fingerprint}`, async (tx) => {
      const action = `labelling certificate ${change.fingerprint}`;
      const known = await tx.get(action, 'SELECT * FROM certificate_annotations WHERE fingerprint = ?', [
        change.fingerprint,
      ]);
      const before = known ? certificateAnnotationOf(known) : undefined;
      const merged: Record<string, string> = { ...(before?.labels ?? {}), ...change.labels };
      for (const [k, v] of Object.entries(change.labels)) if (v === '') delete merged[k];
      const next: CertificateAnnotationRecord = {
        fingerprint: change.fingerprint,
        owner: change.owner === '' ? (before?.owner ?? '') : change.owner,
        labels: merged,
        updatedAt: change.updatedAt,
      };
      await tx.run(
        action,
        `INSERT INTO certificate_annotations (fingerprint, owner, labels, updated_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (fingerprint) DO UPDATE SET owner = excluded.owner, labels = excluded.labels,
        updated_at = excluded.updated_at`,
        [next.fingerprint, next.owner, JSON.stringify(next.labels), next.updatedAt],
      );
      await listing.refreshAnnotations(tx, change.fingerprint);
      return next;
    });
  }

  async listCertificateAnnotations(): Promise<CertificateAnnotationRecord[]> {
    return (
      await this.db.all('listing certificate labels', 'SELECT * FROM certificate_annotations ORDER BY fingerprint', [])
    ).map(certificateAnnotationOf);
  }

  async listInventory(filter: InventoryFilter = {}): Promise<InventoryCertificateRecord[]> {
    const where: string[] = [];
    const args: SqlValue[] = [];
    const add = (clause: string, value: SqlValue | undefined) => {
      if (value === undefined) return;
      where.push(clause);
      args.push(value);
    };
    add('source = ?', filter.source);
    add('owner = ?', filter.owner);
    add('not_after <= ?', filter.notAfterBefore);
    add('not_after > ?', filter.notAfterAfter);
    const sql = `SELECT * FROM inventory_certificates${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY not_after, fingerprint`;
    return (await this.db.all('listing the inventory', sql, args)).map(inventoryCertificateOf);
  }

  async listSightings(fingerprint?: string): Promise<SightingRecord[]> {
    const rows =
      fingerprint === undefined
        ? await this.db.all(
            'listing certificate sightings',
            'SELECT * FROM certificate_sightings ORDER BY fingerprint, location',
          )
        : await this.db.all(
            'listing certificate sightings',
            'SELECT * FROM certificate_sightings WHERE fingerprint = ? ORDER BY location',
            [fingerprint],
          );
    return rows.map(sightingOf);
  }

  async listInventoryPage(query: InventoryListingQuery): Promise<{ rows: InventoryListingRow[]; total: number }> {
    return listing.listPage(this.db, this.db.dialect, query);
  }

  async countInventory(now: number): Promise<{ status: string; source: string; count: number }[]> {
    return listing.countListing(this.db, now);
  }

  async scanInventoryListing(
    now: number,
    after: { readonly origin: ListingOrigin; readonly ref: string } | undefined,
    limit: number,
  ): Promise<InventoryListingRow[]> {
    return listing.scanListing(this.db, now, after, limit);
  }

  async countUnlisted(): Promise<number> {
    return listing.countUnlisted(this.db);
  }

  async unlistedCertificates(
    limit: number,
    after?: { readonly origin: ListingOrigin; readonly ref: string },
  ): Promise<UnlistedCertificate[]> {
    return listing.unlisted(this.db, limit, after);
  }

  async recordInventoryListing(rows: readonly InventoryListingWrite[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db.transaction('listing certificates', (tx) => listing.recordListing(tx, rows));
  }

  async removeInventoryCertificate(fingerprint: string): Promise<boolean> {
    return this.db.transaction(`removing certificate ${fingerprint}`, async (tx) => {
      await tx.run('removing sightings', 'DELETE FROM certificate_sightings WHERE fingerprint = ?', [fingerprint]);
      await listing.removeListing(tx, fingerprint);
      const removed = await tx.run(
        'removing a certificate',
        'DELETE FROM inventory_certificates WHERE fingerprint = ?',
        [fingerprint],
      );
      return removed > 0;
    });
  }

  async raiseAlerts(records: readonly AlertRecord[]): Promise<string[]> {
    return this.db.transaction('raising alerts', async (tx) => {
      const raised: string[] = [];
      for (const a of records) {
        const row = await tx.get(
          `raising alert ${a.alertId}`,
          `INSERT INTO certificate_alerts (alert_id, certificate_id, threshold, severity, source, serial, subject, owner,
          not_after, message, raised_at, resolved_at, resolution) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT (alert_id) DO NOTHING RETURNING alert_id`,
          [
            a.alertId,
            a.certificateId,
            a.threshold,
            a.severity,
            a.source,
            a.serial,
            a.subject,
            a.owner,
            a.notAfter,
            a.message,
            a.raisedAt,
            a.resolvedAt,
            a.resolution,
          ],
        );
        if (row) raised.push(a.alertId);
      }
      return raised;
    });
  }

  async resolveAlerts(
    resolutions: readonly { readonly alertId: string; readonly resolution: AlertResolution }[],
    at: number,
  ): Promise<string[]> {
    return this.db.transaction('resolving alerts', async (tx) => {
      const resolved: string[] = [];
      for (const r of resolutions) {
        const row = await tx.get(
          `resolving alert ${r.alertId}`,
          'UPDATE certificate_alerts SET resolved_at = ?, resolution = ? WHERE alert_id = ? AND resolved_at IS NULL RETURNING alert_id',
          [at, r.resolution, r.alertId],
        );
        if (row) resolved.push(r.alertId);
      }
      return resolved;
    });
  }

  async listAlerts(filter: { readonly open?: boolean } = {}): Promise<AlertRecord[]> {
    const rows = await this.db.all(
      'listing alerts',
      `SELECT * FROM certificate_alerts${filter.open ? ' WHERE resolved_at IS NULL' : ''} ORDER BY raised_at, alert_id`,
    );
    return rows.map(alertOf);
  }

  async recordAlertDelivery(r: AlertDeliveryRecord): Promise<void> {
    await this.db.run(
      `recording delivery ${r.deliveryId}`,
      `INSERT INTO alert_deliveries (delivery_id, alert_id, event, channel, target, attempt, attempted_at, outcome, detail)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (delivery_id) DO NOTHING`,
      [r.deliveryId, r.alertId, r.event, r.channel, r.target, r.attempt, r.attemptedAt, r.outcome, r.detail],
    );
  }

  async listAlertDeliveries(filter: { readonly alertId?: string } = {}): Promise<AlertDeliveryRecord[]> {
    const rows =
      filter.alertId === undefined
        ? await this.db.all(
            'listing alert deliveries',
            'SELECT * FROM alert_deliveries ORDER BY attempted_at, delivery_id',
          )
        : await this.db.all(
            'listing alert deliveries',
            'SELECT * FROM alert_deliveries WHERE alert_id = ? ORDER BY attempted_at, delivery_id',
            [filter.alertId],
          );
    return rows.map(alertDeliveryOf);
  }

  async appendAudit(entry: Omit<AuditRecord, 'entryId'>): Promise<AuditRecord> {
    return auditFleet.appendAudit(this.db, entry);
  }

  async listAudit(filter: AuditFilter): Promise<AuditRecord[]> {
    return auditFleet.listAudit(this.db, filter);
  }

  async pruneAudit(before: number): Promise<number> {
    return auditFleet.pruneAudit(this.db, before);
  }

  async insertAdminIdentity(record: AdminIdentityRecord): Promise<boolean> {
    return auditFleet.insertAdminIdentity(this.db, record);
  }

  async getAdminIdentity(name: string): Promise<AdminIdentityRecord | undefined> {
    return auditFleet.getAdminIdentity(this.db, name);
  }

  async listAdminIdentities(): Promise<AdminIdentityRecord[]> {
    return auditFleet.listAdminIdentities(this.db);
  }

  async markAdminIdentityRevoked(name: string, at: number, by: string): Promise<AdminIdentityRecord | undefined> {
    return auditFleet.markAdminIdentityRevoked(this.db, name, at, by);
  }

  async recordSidecarContact(contact: SidecarContact): Promise<void> {
    return auditFleet.recordSidecarContact(this.db, contact);
  }

  async findSidecarBySerial(svidSerial: string): Promise<SidecarContactRecord | undefined> {
    return auditFleet.findSidecarBySerial(this.db, svidSerial);
  }

  async listSidecarContacts(): Promise<SidecarContactRecord[]> {
    return auditFleet.listSidecarContacts(this.db);
  }

  async pruneSidecarContacts(before: number): Promise<number> {
    return auditFleet.pruneSidecarContacts(this.db, before);
  }

  async nextSequence(name: string): Promise<number> {
    const row = await this.db.get(
      `advancing sequence ${name}`,
      'INSERT INTO sequences (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = sequences.value + 1 RETURNING value',
      [name],
    );
    return Number(row?.['value']);
  }

  async currentSequence(name: string): Promise<number> {
    const row: Row | undefined = await this.db.get(
      `reading sequence ${name}`,
      'SELECT value FROM sequences WHERE name = ?',
      [name],
    );
    return row ? Number(row['value']) : 0;
  }
}
