/**
 * The control plane's persistent state, on two engines that pass one contract suite (store-contract.ts):
 * SQLite (`SqliteStore`, one file, the default) and PostgreSQL (`PostgresStore`, shared by several replicas).
 *
 * How to add to it (both engines at once):
 * - A Store method: declare it in `Store` below, implement it ONCE in `SqlStore` (sql-store.ts) with `this.db.get /
 *   all / run(action, sql, params)` and `?` placeholders, in the SQL both engines speak (INSERT … ON CONFLICT … DO
 *   NOTHING/UPDATE, RETURNING, LIMIT). Several statements that must commit together go in
 *   `this.db.transaction(action, async (tx) => …)` and use `tx`, never `this.db`, inside. Map rows to records with a
 *   function in store-rows.ts (integers through Number(): PostgreSQL BIGINT may come back as text). Then add the
 *   behaviour to runStoreContract: sqlite-store.test.ts and postgres-store.test.ts both run it.
 * - A table or column: append a Migration to migrations.ts (next version, never edit a released one), written in
 *   SQLite's words: INTEGER (64-bit on PostgreSQL: Unix ms fit), BLOB, TEXT. `postgresDdl` translates those;
 *   give `postgres: '…'` only for what does not translate (e.g. a partial index PostgreSQL spells differently).
 *   Copying (`sigil store migrate`) picks new tables up by itself, provided each table's first column orders it.
 * - Where the dialects truly differ (a statement only one engine has), branch on `this.db.dialect` in SqlStore and
 *   keep both branches side by side, so the contract test covers each.
 * Engine-specific work beside the Store (PostgreSQL advisory locks, LISTEN/NOTIFY) lives in the postgres-*.ts files.
 */
import type { KeyType } from '../../common/key-type.ts';
import type { AlertRecord, AlertResolution } from '../lifecycle/alert-plan.ts';

/**
 * 'acme': a public certificate obtained by Sigil's ACME client (control-plane/acme), not signed by the CA.
 * 'code-signing' and 'timestamping': no SPIFFE ID (spiffeId is ''), the subject names the team or TSA.
 */
export type CertificateKind =
  | 'root'
  | 'intermediate'
  | 'svid'
  | 'control-plane'
  | 'admin'
  | 'acme'
  | 'code-signing'
  | 'timestamping';
export type CertificateStatus = 'active' | 'revoked';

/** One row of the inventory: every certificate the CA created. Times are Unix milliseconds. */
export interface CertificateRecord {
  /** Lowercase hex, no separators, no leading-zero stripping beyond what the DER holds. */
  readonly serial: string;
  /** The URI SAN; for a root, the trust-domain ID. */
  readonly spiffeId: string;
  readonly kind: CertificateKind;
  readonly keyType: KeyType;
  readonly notBefore: number;
  readonly notAfter: number;
  /** Serial of the issuing CA certificate; null for a self-signed root. */
  readonly issuerSerial: string | null;
  readonly status: CertificateStatus;
  readonly issuedAt: number;
  /** SHA-256 of the SubjectPublicKeyInfo, hex: lets Renew refuse a reused key. */
  readonly publicKeySha256: string;
  readonly der: Uint8Array;
  /**
   * The certificate that replaced this one by renewal (the holder authenticated with this one to get it), or null.
   * Several instances may share a SPIFFE ID; this lineage tells one instance's old certificate from another's live one.
   */
  readonly supersededBy?: string | null;
}

export interface CertificateFilter {
  readonly spiffeId?: string;
  readonly kind?: CertificateKind;
  readonly status?: CertificateStatus;
  /** Only certificates with notAfter <= this time (ms). */
  readonly notAfterBefore?: number;
  /** Only certificates with notAfter > this time (ms): i.e. not yet expired. */
  readonly notAfterAfter?: number;
}

export interface JoinTokenRecord {
  /** SHA-256 of the token, hex. The token itself is never stored. */
  readonly tokenHash: string;
  readonly spiffeId: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly usesRemaining: number;
  /** True: `spiffeId` is a path prefix (whole segments) under which the sidecar names itself; absent: exact ID. */
  readonly matchPrefix?: true;
  /** Set by `sigil token revoke`: the token can no longer be used. */
  readonly revokedAt?: number;
}

export type ConsumeTokenResult =
  | { readonly ok: true; readonly token: JoinTokenRecord }
  | { readonly ok: false; readonly reason: 'unknown' | 'expired' | 'used' | 'revoked' };

/** One revoked certificate. Times are Unix milliseconds. */
export interface RevocationRecord {
  readonly serial: string;
  readonly spiffeId: string;
  /** RFC 5280 reason name (`keyCompromise`, ...). */
  readonly reason: string;
  readonly revokedAt: number;
  /** From when the certificate is to be treated as invalid (the CRL's invalidity date); <= revokedAt. */
  readonly effectiveAt: number;
  /** The certificate's notAfter, kept here so the CRL can drop expired entries without a join. */
  readonly notAfter: number;
  /**
   * Signatures made with the key outlive the certificate (code-signing and TSA certificates): the entry then stays
   * on the CRL past notAfter, so a signature can still be judged years later. Absent means false.
   */
  readonly listedPastExpiry?: boolean;
}

/** A meta value written in the same transaction as a change (the CRL that lists a revocation). */
export interface MetaEntry {
  readonly key: string;
  readonly value: string;
}

/** An identity whose certificates are all revoked and that may not attest or renew until unrevoked. */
export interface RevokedIdentityRecord {
  readonly spiffeId: string;
  readonly reason: string;
  readonly revokedAt: number;
}

export interface RevokeIdentityResult {
  /** False when the identity was already revoked. */
  readonly identityAdded: boolean;
  /** Serials newly revoked by this call. */
  readonly revokedSerials: string[];
}

/** An operator's (or CA activation's) order that targeted workloads renew with a new key inside a window. */
export interface RotationOrderRecord {
  readonly orderId: string;
  readonly targetKind: 'spiffe-id' | 'prefix' | 'all';
  /** The SPIFFE ID or the prefix (with its trailing '/'); empty for 'all'. */
  readonly target: string;
  readonly windowMs: number;
  readonly reason: string;
  readonly createdAt: number;
}

/**
 * One file of the CA's directory, kept in the store so every replica has the CA (DESIGN.md section 7). Private keys
 * are never stored in the clear: CA keys are encrypted PKCS#8 as on disk, and a key that is plain on disk (the admin
 * credential's) is stored encrypted with the CA passphrase (`sealed`) and decrypted when written back to disk.
 */
export interface CaFileRecord {
  /** Relative to the data dir, as ca.json names it. */
  readonly name: string;
  readonly data: Uint8Array;
  /** File mode on disk (0o600 for keys). */
  readonly mode: number;
  readonly sealed: boolean;
}

/**
 * A certificate Sigil did not issue (source 'imported' or 'discovered'), keyed by the SHA-256 of its DER so the same
 * certificate imported twice or seen at several endpoints is one row.
 */
export interface InventoryCertificateRecord {
  readonly fingerprint: string;
  readonly source: 'imported' | 'discovered';
  readonly serial: string;
  /** SPIFFE ID, first DNS name or subject: what a successor shares. */
  readonly name: string;
  readonly subject: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** '' when nobody was named. */
  readonly owner: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly status: CertificateStatus;
  readonly der: Uint8Array;
  /** The issuers imported or served with it, DER, leaf's issuer first. */
  readonly chain: readonly Uint8Array[];
  readonly recordedAt: number;
  /** What the listing filters and sorts on, when the caller parsed the DER anyway: written in the same transaction. */
  readonly facts?: InventoryListingFacts;
}

/** What the inventory is filtered and sorted on, read once from a certificate's DER (the listing, migration 11). */
export interface InventoryListingFacts {
  /** SHA-256 of the DER, lowercase hex: the inventory id. */
  readonly id: string;
  readonly serial: string;
  readonly subject: string;
  readonly issuer: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly keyAlgorithm: string;
  readonly keyBits: number;
  readonly isCa: boolean;
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
}

/** Which table a listing row stands for: 'ca' (certificates, by serial) or 'external' (inventory_certificates, by fingerprint). */
export type ListingOrigin = 'ca' | 'external';

/** A listing row to add for a certificate already in its table (the catch-up of rows recorded without facts). */
export interface InventoryListingWrite {
  readonly origin: ListingOrigin;
  readonly ref: string;
  readonly source: string;
  /** The CA's kind for issued certificates; '' for others. */
  readonly kind: string;
  readonly name: string;
  readonly facts: InventoryListingFacts;
}

/** One row of the listing as read, its status settled at the query's `now`. */
export interface InventoryListingRow extends InventoryListingWrite {
  /** Effective: an annotation's owner wins over the imported one, its labels extend them. */
  readonly owner: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly recordedStatus: CertificateStatus;
  readonly supersededBy: string | null;
  readonly status: 'active' | 'superseded' | 'revoked' | 'expired';
  /** Only with `withCertificates`. */
  readonly der?: Uint8Array;
  readonly chain?: readonly Uint8Array[];
}

export type InventorySort = 'notAfter' | 'name' | 'source' | 'status' | 'kind';

/** One page of the listing: every filter given must match. */
export interface InventoryListingQuery {
  /** Statuses are settled at this time (ms). */
  readonly now: number;
  readonly source?: string;
  readonly kind?: string;
  readonly owner?: string;
  readonly status?: string;
  /** Every label must match. */
  readonly labels?: Readonly<Record<string, string>>;
  /** One of the certificate's URIs, or its name. */
  readonly spiffeId?: string;
  /** Lowercase; a substring of the name, subject, serial, a URI or a DNS name. */
  readonly text?: string;
  /** The inventory id or the serial. */
  readonly ref?: string;
  readonly notAfterAfter?: number;
  readonly notAfterAtMost?: number;
  /** Default notAfter; ties are broken by notAfter, then id. */
  readonly sort?: InventorySort;
  readonly descending?: boolean;
  readonly offset?: number;
  readonly limit: number;
  /** Also read each row's DER and chain (for the entries of a page, never for a count). */
  readonly withCertificates?: boolean;
}

/** A certificate of either table with no listing row yet, with what its row is made from. */
export interface UnlistedCertificate {
  readonly origin: ListingOrigin;
  readonly ref: string;
  readonly der: Uint8Array;
  /** 'imported' or 'discovered' for external rows; '' for the CA's (its source follows from the kind). */
  readonly source: string;
  readonly kind: string;
  /** The SPIFFE ID (CA rows, '' for code signing) or the recorded name (external rows). */
  readonly name: string;
}

/**
 * Owner and labels an operator gave a certificate of the inventory after the fact (`sigil certs label`): the only
 * place they live for certificates the CA issued, and they override what an import recorded.
 */
export interface CertificateAnnotationRecord {
  /** The inventory id: SHA-256 fingerprint of the DER, lowercase hex. */
  readonly fingerprint: string;
  /** '' when none was named. */
  readonly owner: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly updatedAt: number;
}

/** Where a certificate was seen: a file path or `host:port`, first and last time. */
export interface SightingRecord {
  readonly fingerprint: string;
  readonly location: string;
  readonly firstSeen: number;
  readonly lastSeen: number;
}

export interface InventoryFilter {
  readonly source?: 'imported' | 'discovered';
  readonly owner?: string;
  readonly notAfterBefore?: number;
  readonly notAfterAfter?: number;
}

/** One attempt to deliver an alert event on one channel (a webhook URL, NATS, the log). */
export interface AlertDeliveryRecord {
  /** `<alert id>/<event>/<channel>/<target>/<attempt>`. */
  readonly deliveryId: string;
  readonly alertId: string;
  readonly event: 'raised' | 'resolved';
  readonly channel: 'webhook' | 'nats' | 'log';
  readonly target: string;
  readonly attempt: number;
  readonly attemptedAt: number;
  readonly outcome: 'delivered' | 'failed';
  /** HTTP status or error text; never a secret. */
  readonly detail: string;
}

export type AuditResult = 'ok' | 'refused' | 'failed';

/** One line of the audit log: who did (or tried) what to what. Append-only: nothing updates or deletes a row but retention. */
export interface AuditRecord {
  /** Assigned by the store: grows with every entry, across replicas; the list cursor. */
  readonly entryId: number;
  readonly at: number;
  /** The caller's SPIFFE ID URI, or 'anonymous' when it presented none that verified. */
  readonly actor: string;
  /** e.g. 'revoke', 'policy.apply', 'token.create', 'admin.create'. */
  readonly action: string;
  readonly target: string;
  readonly result: AuditResult;
  readonly requestId: string;
  /** Error code and message of a refusal or failure; '' when none. */
  readonly detail: string;
}

export interface AuditFilter {
  /** Only entries at or after this time (ms). */
  readonly since?: number;
  readonly actor?: string;
  /** Only entries with a larger id (the cursor of the previous page). */
  readonly afterId?: number;
  readonly limit: number;
}

/** An admin identity minted by `sigil admin create` (the first one, from `sigil ca init`, has no row). */
export interface AdminIdentityRecord {
  /** The last path segment: spiffe://<td>/sigil/admin/<name>. */
  readonly name: string;
  readonly spiffeId: string;
  /** Serial of the certificate minted with it. */
  readonly serial: string;
  readonly createdAt: number;
  /** SPIFFE ID of the admin who created it. */
  readonly createdBy: string;
  readonly revokedAt?: number;
  readonly revokedBy?: string;
}

/** What the control plane last heard from one sidecar instance (the fleet view). Times are Unix ms. */
export interface SidecarContactRecord {
  /** Sent by the sidecar (random per process); for a sidecar too old to send one, `svid:<first serial seen>`. */
  readonly instanceId: string;
  readonly spiffeId: string;
  /** '' when the sidecar did not say. */
  readonly sidecarVersion: string;
  readonly svidSerial: string;
  readonly svidNotAfter: number;
  readonly firstSeen: number;
  readonly lastTrustFetchAt: number | null;
  readonly lastRenewalAt: number | null;
  /** The versions the sidecar said it holds; null when it did not say. */
  readonly bundleSequence: number | null;
  readonly crlNumber: number | null;
  readonly policyVersion: number | null;
}

/** One contact: the fields given replace the stored ones; absent (undefined) ones are kept. */
export interface SidecarContact {
  readonly instanceId: string;
  readonly spiffeId: string;
  readonly at: number;
  readonly kind: 'trust-fetch' | 'renewal';
  readonly sidecarVersion?: string;
  readonly svidSerial: string;
  readonly svidNotAfter: number;
  readonly bundleSequence?: number;
  readonly crlNumber?: number;
  readonly policyVersion?: number;
}

/**
 * The control plane's persistent state. Every method is atomic on its own, across connections, processes and
 * replicas (see the top of this file for the implementations and how to extend them).
 */
export interface Store {
  /** Runs pending schema migrations; refuses a database written by a newer schema. */
  open(): Promise<void>;
  close(): Promise<void>;

  /**
   * With `supersedes`, in the same transaction marks that certificate as replaced by this one. With `consumeToken`,
   * uses the join token in the same transaction: when it cannot be used, nothing is recorded and the refusal is
   * returned (a signed certificate is then never handed out); a crash leaves both or neither.
   */
  insertCertificate(
    record: CertificateRecord,
    options?: { readonly supersedes?: string; readonly consumeToken?: { tokenHash: string; now: number } },
  ): Promise<ConsumeTokenResult | undefined>;
  getCertificate(serial: string): Promise<CertificateRecord | undefined>;
  /** Ordered by notAfter ascending, then serial. */
  listCertificates(filter?: CertificateFilter): Promise<CertificateRecord[]>;
  /**
   * Sets the status of a certificate another CA revoked (an ACME certificate), without a revocation record: those
   * feed this CA's CRL, which must name only its own certificates. False for an unknown serial.
   */
  setCertificateStatus(serial: string, status: CertificateStatus): Promise<boolean>;
  /** True if a certificate with this public-key hash was ever issued. */
  hasPublicKey(publicKeySha256: string): Promise<boolean>;

  insertJoinToken(record: JoinTokenRecord): Promise<void>;
  /** Looks a token up without using it. */
  getJoinToken(tokenHash: string): Promise<JoinTokenRecord | undefined>;
  /** Atomically checks expiry and remaining uses and decrements them. */
  consumeJoinToken(tokenHash: string, now: number): Promise<ConsumeTokenResult>;
  /** Every join token, oldest first (hashes only; the tokens themselves were never stored). */
  listJoinTokens(): Promise<JoinTokenRecord[]>;
  /** Marks a token revoked; returns it as left, or undefined when unknown. Revoking twice keeps the first time. */
  revokeJoinToken(tokenHash: string, now: number): Promise<JoinTokenRecord | undefined>;

  /** Small named values: CA metadata, settings. */
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;

  /**
   * In one transaction: records each revocation and sets its certificate's status to 'revoked'. A serial already
   * revoked keeps its first record and is not reported again. Returns the serials newly revoked, in input order.
   * With `meta` (the CRL that lists them), that value is written in the same transaction: both or neither.
   */
  revokeCertificates(records: readonly RevocationRecord[], meta?: MetaEntry): Promise<string[]>;
  getRevocation(serial: string): Promise<RevocationRecord | undefined>;
  /**
   * Ordered by serial; with `notAfterAfter`, only revocations of certificates with notAfter > that time, and those
   * listed past expiry.
   */
  listRevocations(filter?: { readonly notAfterAfter?: number }): Promise<RevocationRecord[]>;
  /** In one transaction: remembers the identity (first record kept), revokes the given certificates, sets `meta`. */
  revokeIdentity(
    identity: RevokedIdentityRecord,
    certificates: readonly RevocationRecord[],
    meta?: MetaEntry,
  ): Promise<RevokeIdentityResult>;
  /** Forgets a revoked identity (its certificates stay revoked), with `meta` in the same transaction; false when it was not revoked. */
  unrevokeIdentity(spiffeId: string, meta?: MetaEntry): Promise<boolean>;
  getRevokedIdentity(spiffeId: string): Promise<RevokedIdentityRecord | undefined>;
  /** Ordered by SPIFFE ID. */
  listRevokedIdentities(): Promise<RevokedIdentityRecord[]>;

  insertRotationOrder(record: RotationOrderRecord): Promise<void>;
  getRotationOrder(orderId: string): Promise<RotationOrderRecord | undefined>;
  /** The most recent order (by createdAt, then id), if any. */
  latestRotationOrder(): Promise<RotationOrderRecord | undefined>;
  /** Orders created after `createdAfter` (ms), oldest first. */
  listRotationOrders(createdAfter: number): Promise<RotationOrderRecord[]>;

  /** The CA's files as last stored, with their generation (0 and none before the first). Ordered by name. */
  getCaFiles(): Promise<{ readonly generation: number; readonly files: CaFileRecord[] }>;
  /**
   * Replaces the whole set in one transaction if the stored generation is still `expectedGeneration`; returns the new
   * generation, or undefined (changing nothing) when another writer came first.
   */
  replaceCaFiles(files: readonly CaFileRecord[], expectedGeneration: number): Promise<number | undefined>;

  /**
   * In one transaction: adds the certificates not yet known (a known one keeps its row; a non-empty owner and the
   * labels given replace and extend its own) and records each sighting (first seen kept, last seen moved).
   */
  recordInventory(records: readonly InventoryCertificateRecord[], sightings: readonly SightingRecord[]): Promise<void>;
  getInventoryCertificate(fingerprint: string): Promise<InventoryCertificateRecord | undefined>;
  /** Ordered by notAfter ascending, then fingerprint. */
  listInventory(filter?: InventoryFilter): Promise<InventoryCertificateRecord[]>;
  /** Ordered by fingerprint, then location; with `fingerprint`, only that certificate's. */
  listSightings(fingerprint?: string): Promise<SightingRecord[]>;
  /** Forgets an imported or discovered certificate and its sightings; false when unknown. */
  removeInventoryCertificate(fingerprint: string): Promise<boolean>;
  /**
   * Sets a certificate's owner and labels in one step: a non-empty owner replaces the known one, labels extend
   * and replace the known ones, and a label given with an empty value is removed. Returns the annotation now held.
   */
  annotateCertificate(change: CertificateAnnotationRecord): Promise<CertificateAnnotationRecord>;
  /** Ordered by fingerprint. */
  listCertificateAnnotations(): Promise<CertificateAnnotationRecord[]>;

  /**
   * One page of the inventory listing (both tables, one row per certificate), filtered, sorted and counted in SQL;
   * `total` counts every row that matches.
   */
  listInventoryPage(query: InventoryListingQuery): Promise<{ rows: InventoryListingRow[]; total: number }>;
  /** How many listing rows there are per status (at `now`) and source. */
  countInventory(now: number): Promise<{ status: string; source: string; count: number }[]>;
  /** Up to `limit` listing rows after `after` in (origin, ref) order: walks the whole listing a batch at a time. */
  scanInventoryListing(
    now: number,
    after: { readonly origin: ListingOrigin; readonly ref: string } | undefined,
    limit: number,
  ): Promise<InventoryListingRow[]>;
  /** How many certificates of either table have no listing row (0 once caught up). */
  countUnlisted(): Promise<number>;
  /**
   * Up to `limit` certificates without a listing row, in (origin, ref) order ('ca' first), after `after` when given:
   * the cursor of the previous batch, so a catch-up never scans the rows it has listed again.
   */
  unlistedCertificates(
    limit: number,
    after?: { readonly origin: ListingOrigin; readonly ref: string },
  ): Promise<UnlistedCertificate[]>;
  /** Adds listing rows (a row already there is kept; a certificate no longer in its table is skipped). */
  recordInventoryListing(rows: readonly InventoryListingWrite[]): Promise<void>;

  /** Records alerts not raised before (by alert id); returns the ids newly recorded, in input order. */
  raiseAlerts(records: readonly AlertRecord[]): Promise<string[]>;
  /** Resolves open alerts; returns the ids this call resolved (already resolved ones are left as they were). */
  resolveAlerts(
    resolutions: readonly { readonly alertId: string; readonly resolution: AlertResolution }[],
    at: number,
  ): Promise<string[]>;
  /** Ordered by raisedAt, then id; `open` keeps only unresolved alerts. */
  listAlerts(filter?: { readonly open?: boolean }): Promise<AlertRecord[]>;
  /** One row per attempt; a delivery id recorded twice keeps the first. */
  recordAlertDelivery(record: AlertDeliveryRecord): Promise<void>;
  /** Ordered by attemptedAt, then id. */
  listAlertDeliveries(filter?: { readonly alertId?: string }): Promise<AlertDeliveryRecord[]>;

  /** Appends one entry with the next id (in the same transaction); returns it as stored. */
  appendAudit(entry: Omit<AuditRecord, 'entryId'>): Promise<AuditRecord>;
  /** Ordered by id ascending (the order they were written), at most `limit`. */
  listAudit(filter: AuditFilter): Promise<AuditRecord[]>;
  /** Retention: removes entries older than `before` (ms); returns how many. The only way a row leaves. */
  pruneAudit(before: number): Promise<number>;

  /** False (changing nothing) when the name is taken, revoked names included. */
  insertAdminIdentity(record: AdminIdentityRecord): Promise<boolean>;
  getAdminIdentity(name: string): Promise<AdminIdentityRecord | undefined>;
  /** Ordered by name. */
  listAdminIdentities(): Promise<AdminIdentityRecord[]>;
  /** Marks it revoked (first revocation kept); returns it as left, or undefined when unknown. */
  markAdminIdentityRevoked(name: string, at: number, by: string): Promise<AdminIdentityRecord | undefined>;

  /** Creates or updates the instance's row (see SidecarContact). */
  recordSidecarContact(contact: SidecarContact): Promise<void>;
  /** The instance whose last known SVID has this serial (an old sidecar renewing it). */
  findSidecarBySerial(svidSerial: string): Promise<SidecarContactRecord | undefined>;
  /** Ordered by SPIFFE ID, then instance id. */
  listSidecarContacts(): Promise<SidecarContactRecord[]>;
  /** Forgets instances not heard from since `before` (ms); returns how many. */
  pruneSidecarContacts(before: number): Promise<number>;

  /** Atomically increments and returns the sequence of `name` (first call returns 1). Never goes back. */
  nextSequence(name: string): Promise<number>;
  currentSequence(name: string): Promise<number>;
}
