import type { KeyType } from '../../common/key-type.ts';

export type CertificateKind =
  | 'root'
  | 'intermediate'
  | 'svid'
  | 'control-plane'
  | 'admin'
  /** Code-signing and TSA certificates: no SPIFFE ID (spiffeId is ''), the subject names the team or TSA. */
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
}

export type ConsumeTokenResult =
  | { readonly ok: true; readonly token: JoinTokenRecord }
  | { readonly ok: false; readonly reason: 'unknown' | 'expired' | 'used' };

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
 * The control plane's persistent state. Every method is atomic on its own; implementations are the
 * embedded SQLite store (default) and, later, PostgreSQL for several replicas.
 */
export interface Store {
  /** Runs pending schema migrations; refuses a database written by a newer schema. */
  open(): Promise<void>;
  close(): Promise<void>;

  /** With `supersedes`, in the same transaction marks that certificate as replaced by this one. */
  insertCertificate(record: CertificateRecord, options?: { readonly supersedes?: string }): Promise<void>;
  getCertificate(serial: string): Promise<CertificateRecord | undefined>;
  /** Ordered by notAfter ascending, then serial. */
  listCertificates(filter?: CertificateFilter): Promise<CertificateRecord[]>;
  /** True if a certificate with this public-key hash was ever issued. */
  hasPublicKey(publicKeySha256: string): Promise<boolean>;

  insertJoinToken(record: JoinTokenRecord): Promise<void>;
  /** Looks a token up without using it. */
  getJoinToken(tokenHash: string): Promise<JoinTokenRecord | undefined>;
  /** Atomically checks expiry and remaining uses and decrements them. */
  consumeJoinToken(tokenHash: string, now: number): Promise<ConsumeTokenResult>;

  /** Small named values: CA metadata, settings. */
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;

  /**
   * In one transaction: records each revocation and sets its certificate's status to 'revoked'. A serial already
   * revoked keeps its first record and is not reported again. Returns the serials newly revoked, in input order.
   */
  revokeCertificates(records: readonly RevocationRecord[]): Promise<string[]>;
  getRevocation(serial: string): Promise<RevocationRecord | undefined>;
  /**
   * Ordered by serial; with `notAfterAfter`, only revocations of certificates with notAfter > that time, and those
   * listed past expiry.
   */
  listRevocations(filter?: { readonly notAfterAfter?: number }): Promise<RevocationRecord[]>;
  /** In one transaction: remembers the identity (first record kept) and revokes the given certificates. */
  revokeIdentity(
    identity: RevokedIdentityRecord,
    certificates: readonly RevocationRecord[],
  ): Promise<RevokeIdentityResult>;
  /** Forgets a revoked identity (its certificates stay revoked); false when it was not revoked. */
  unrevokeIdentity(spiffeId: string): Promise<boolean>;
  getRevokedIdentity(spiffeId: string): Promise<RevokedIdentityRecord | undefined>;
  /** Ordered by SPIFFE ID. */
  listRevokedIdentities(): Promise<RevokedIdentityRecord[]>;

  insertRotationOrder(record: RotationOrderRecord): Promise<void>;
  getRotationOrder(orderId: string): Promise<RotationOrderRecord | undefined>;
  /** The most recent order (by createdAt, then id), if any. */
  latestRotationOrder(): Promise<RotationOrderRecord | undefined>;
  /** Orders created after `createdAfter` (ms), oldest first. */
  listRotationOrders(createdAfter: number): Promise<RotationOrderRecord[]>;

  /** Atomically increments and returns the sequence of `name` (first call returns 1). Never goes back. */
  nextSequence(name: string): Promise<number>;
  currentSequence(name: string): Promise<number>;
}
