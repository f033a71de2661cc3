/**
 * Ordered schema migrations, each applied in its own transaction at open and recorded in schema_migrations.
 * Never edit a released one: append a new version (revocations and policies arrive that way).
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
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
    name: 'revocations of signing certificates stay listed past expiry',
    sql: `
      ALTER TABLE revocations ADD COLUMN listed_past_expiry INTEGER NOT NULL DEFAULT 0;
    `,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0);
