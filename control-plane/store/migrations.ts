import type { SqlDialect } from './sql-database.ts';

/**
 * Ordered schema migrations, each applied in its own transaction at open and recorded in schema_migrations.
 * Never edit a released one: append a new version (revocations and policies arrive that way).
 *
 * `sql` is written once, in SQLite's words (INTEGER, BLOB, TEXT); `postgresDdl` turns those into PostgreSQL's
 * (BIGINT for Unix ms, BYTEA, byte-ordered TEXT) so both engines get the same tables. Give `postgres` only where
 * the dialects truly differ.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  /** Replaces the translated `sql` on PostgreSQL. */
  readonly postgres?: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'inventory, join tokens, meta, sequences',
    sql: `
      CREATE TABLE certificates (
        serial TEXT PRIMARY KEY,
        spiffe_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        key_type TEXT NOT NULL,
        not_before INTEGER NOT NULL,
        not_after INTEGER NOT NULL,
        issuer_serial TEXT,
        status TEXT NOT NULL,
        issued_at INTEGER NOT NULL,
        public_key_sha256 TEXT NOT NULL,
        der BLOB NOT NULL
      );
      CREATE INDEX certificates_spiffe_id ON certificates (spiffe_id);
      CREATE INDEX certificates_not_after ON certificates (not_after);
      CREATE UNIQUE INDEX certificates_public_key ON certificates (public_key_sha256);
      CREATE TABLE join_tokens (
        token_hash TEXT PRIMARY KEY,
        spiffe_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        uses_remaining INTEGER NOT NULL
      );
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    `,
  },
  {
    version: 2,
    name: 'revocations, revoked identities',
    sql: `
      CREATE TABLE revocations (
        serial TEXT PRIMARY KEY,
        spiffe_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        revoked_at INTEGER NOT NULL,
        effective_at INTEGER NOT NULL,
        not_after INTEGER NOT NULL
      );
      CREATE INDEX revocations_not_after ON revocations (not_after);
      CREATE TABLE revoked_identities (
        spiffe_id TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        revoked_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 3,
    name: 'rotation orders',
    sql: `
      CREATE TABLE rotation_orders (
        order_id TEXT PRIMARY KEY,
        target_kind TEXT NOT NULL,
        target TEXT NOT NULL,
        window_ms INTEGER NOT NULL,
        reason TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX rotation_orders_created_at ON rotation_orders (created_at);
    `,
  },
  {
    version: 4,
    name: 'certificate lineage: the renewal that replaced a certificate',
    sql: `
      ALTER TABLE certificates ADD COLUMN superseded_by TEXT;
    `,
  },
  {
    version: 5,
    name: 'CA state shared by replicas: the CA directory as rows',
    sql: `
      CREATE TABLE ca_files (
        name TEXT PRIMARY KEY,
        data BLOB NOT NULL,
        mode INTEGER NOT NULL,
        sealed INTEGER NOT NULL
      );
    `,
  },
  {
    version: 6,
    name: 'revocations of signing certificates stay listed past expiry',
    sql: `
      ALTER TABLE revocations ADD COLUMN listed_past_expiry INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 7,
    name: 'join tokens bound to a path prefix, and revocable',
    sql: `
      ALTER TABLE join_tokens ADD COLUMN match_prefix INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE join_tokens ADD COLUMN revoked_at INTEGER;
    `,
  },
  {
    version: 8,
    name: 'lifecycle: imported and discovered certificates, where they were seen, expiry alerts and their deliveries',
    sql: `
      CREATE TABLE inventory_certificates (
        fingerprint TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        serial TEXT NOT NULL,
        name TEXT NOT NULL,
        subject TEXT NOT NULL,
        not_before INTEGER NOT NULL,
        not_after INTEGER NOT NULL,
        owner TEXT NOT NULL,
        labels TEXT NOT NULL,
        status TEXT NOT NULL,
        der BLOB NOT NULL,
        chain TEXT NOT NULL,
        recorded_at INTEGER NOT NULL
      );
      CREATE INDEX inventory_certificates_not_after ON inventory_certificates (not_after);
      CREATE TABLE certificate_sightings (
        fingerprint TEXT NOT NULL,
        location TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        PRIMARY KEY (fingerprint, location)
      );
      CREATE TABLE certificate_alerts (
        alert_id TEXT PRIMARY KEY,
        certificate_id TEXT NOT NULL,
        threshold TEXT NOT NULL,
        severity TEXT NOT NULL,
        source TEXT NOT NULL,
        serial TEXT NOT NULL,
        subject TEXT NOT NULL,
        owner TEXT NOT NULL,
        not_after INTEGER NOT NULL,
        message TEXT NOT NULL,
        raised_at INTEGER NOT NULL,
        resolved_at INTEGER,
        resolution TEXT
      );
      CREATE INDEX certificate_alerts_raised_at ON certificate_alerts (raised_at);
      CREATE TABLE alert_deliveries (
        delivery_id TEXT PRIMARY KEY,
        alert_id TEXT NOT NULL,
        event TEXT NOT NULL,
        channel TEXT NOT NULL,
        target TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        attempted_at INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL
      );
      CREATE INDEX alert_deliveries_alert ON alert_deliveries (alert_id);
    `,
  },
  {
    version: 9,
    name: 'lifecycle: owner and labels of any inventory certificate, issued ones included',
    sql: `
      CREATE TABLE certificate_annotations (
        fingerprint TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        labels TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 10,
    name: 'audit log of admin calls, admin identities, sidecar contacts (the fleet view)',
    sql: `
      CREATE TABLE audit_entries (
        entry_id INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        result TEXT NOT NULL,
        request_id TEXT NOT NULL,
        detail TEXT NOT NULL
      );
      CREATE INDEX audit_entries_at ON audit_entries (at);
      CREATE INDEX audit_entries_actor ON audit_entries (actor, entry_id);
      CREATE TABLE admin_identities (
        name TEXT PRIMARY KEY,
        spiffe_id TEXT NOT NULL,
        serial TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        revoked_at INTEGER,
        revoked_by TEXT
      );
      CREATE TABLE sidecar_contacts (
        instance_id TEXT PRIMARY KEY,
        spiffe_id TEXT NOT NULL,
        sidecar_version TEXT NOT NULL,
        svid_serial TEXT NOT NULL,
        svid_not_after INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        last_trust_fetch_at INTEGER,
        last_renewal_at INTEGER,
        bundle_sequence INTEGER,
        crl_number INTEGER,
        policy_version INTEGER
      );
      CREATE INDEX sidecar_contacts_serial ON sidecar_contacts (svid_serial);
    `,
  },
  {
    version: 11,
    name: 'inventory listing: the columns the inventory is filtered and sorted on, one row per certificate',
    // One row per certificate of either inventory table (origin 'ca': certificates, ref = serial; 'external':
    // inventory_certificates, ref = fingerprint), so pages are filtered, sorted and counted in SQL and only the
    // certificates of a page are parsed. The facts come from parsing the DER, which SQL cannot do: rows recorded
    // before this version are filled in by the inventory's catch-up (inventory-listing-catch-up.ts), in batches.
    // settled: 'revoked', 'superseded' or 'live' (a live certificate is active or expired depending on now).
    sql: `
      CREATE TABLE inventory_listing (
        origin TEXT NOT NULL,
        ref TEXT NOT NULL,
        id TEXT NOT NULL,
        source TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        serial TEXT NOT NULL,
        subject TEXT NOT NULL,
        issuer TEXT NOT NULL,
        not_before INTEGER NOT NULL,
        not_after INTEGER NOT NULL,
        key_algorithm TEXT NOT NULL,
        key_bits INTEGER NOT NULL,
        is_ca INTEGER NOT NULL,
        uris TEXT NOT NULL,
        dns_names TEXT NOT NULL,
        search TEXT NOT NULL,
        succession TEXT NOT NULL,
        owner TEXT NOT NULL,
        labels TEXT NOT NULL,
        recorded_status TEXT NOT NULL,
        superseded_by TEXT,
        settled TEXT NOT NULL,
        PRIMARY KEY (origin, ref)
      );
      CREATE INDEX inventory_listing_not_after ON inventory_listing (not_after, id);
      CREATE INDEX inventory_listing_settled ON inventory_listing (settled, not_after);
      CREATE INDEX inventory_listing_source ON inventory_listing (source, not_after);
      CREATE INDEX inventory_listing_name ON inventory_listing (name, not_after);
      CREATE INDEX inventory_listing_id ON inventory_listing (id);
      CREATE INDEX inventory_listing_serial ON inventory_listing (serial);
      CREATE INDEX inventory_listing_succession ON inventory_listing (succession);
      CREATE INDEX inventory_listing_owner ON inventory_listing (owner);
    `,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0);

/**
 * SQLite's column types in PostgreSQL's words: INTEGER holds Unix ms (64-bit: BIGINT), BLOB is BYTEA, and TEXT
 * compares byte by byte (COLLATE "C") so ORDER BY gives the same order as SQLite's BINARY collation.
 */
export function postgresDdl(sql: string): string {
  return sql
    .replace(/\bINTEGER\b/g, 'BIGINT')
    .replace(/\bBLOB\b/g, 'BYTEA')
    .replace(/\bTEXT\b/g, 'TEXT COLLATE "C"');
}

/** The statements of a migration for one engine. */
export function migrationSql(migration: Migration, dialect: SqlDialect): string {
  if (dialect === 'sqlite') return migration.sql;
  return migration.postgres ?? postgresDdl(migration.sql);
}
