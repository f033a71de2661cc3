import type { KeyType } from '../../common/key-type.ts';
import type { Row } from './sql-database.ts';
import type {
  CaFileRecord,
  CertificateKind,
  CertificateRecord,
  CertificateStatus,
  JoinTokenRecord,
  RevocationRecord,
  RevokedIdentityRecord,
  RotationOrderRecord,
} from './store.ts';

/** Row to record, for both engines: integers go through Number() (PostgreSQL BIGINT may arrive as text). */

export function certificateOf(row: Row): CertificateRecord {
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

export function tokenOf(row: Row): JoinTokenRecord {
  return {
    tokenHash: row['token_hash'] as string,
    spiffeId: row['spiffe_id'] as string,
    createdAt: Number(row['created_at']),
    expiresAt: Number(row['expires_at']),
    usesRemaining: Number(row['uses_remaining']),
    ...(Number(row['match_prefix'] ?? 0) === 1 ? { matchPrefix: true as const } : {}),
    ...(row['revoked_at'] === null || row['revoked_at'] === undefined ? {} : { revokedAt: Number(row['revoked_at']) }),
  };
}

export function revocationOf(row: Row): RevocationRecord {
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

export function revokedIdentityOf(row: Row): RevokedIdentityRecord {
  return {
    spiffeId: row['spiffe_id'] as string,
    reason: row['reason'] as string,
    revokedAt: Number(row['revoked_at']),
  };
}

export function rotationOrderOf(row: Row): RotationOrderRecord {
  return {
    orderId: row['order_id'] as string,
    targetKind: row['target_kind'] as RotationOrderRecord['targetKind'],
    target: row['target'] as string,
    windowMs: Number(row['window_ms']),
    reason: row['reason'] as string,
    createdAt: Number(row['created_at']),
  };
}

export function caFileOf(row: Row): CaFileRecord {
  return {
    name: row['name'] as string,
    data: new Uint8Array(row['data'] as Uint8Array),
    mode: Number(row['mode']),
    sealed: Number(row['sealed']) === 1,
  };
}
