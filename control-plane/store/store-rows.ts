import type { KeyType } from '../../common/key-type.ts';
import type { Row } from './sql-database.ts';
import type { AlertRecord, AlertResolution } from '../lifecycle/alert-plan.ts';
import type { ExpiryThreshold, AlertSeverity } from '../lifecycle/expiry-rule.ts';
import type {
  AlertDeliveryRecord,
  CertificateAnnotationRecord,
  InventoryCertificateRecord,
  SightingRecord,
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

/** The chain column: base64 DER certificates as a JSON array (portable across both engines' text types). */
export function chainText(chain: readonly Uint8Array[]): string {
  return JSON.stringify(chain.map((der) => Buffer.from(der).toString('base64')));
}

export function certificateAnnotationOf(row: Row): CertificateAnnotationRecord {
  return {
    fingerprint: row['fingerprint'] as string,
    owner: row['owner'] as string,
    labels: JSON.parse(row['labels'] as string) as Record<string, string>,
    updatedAt: Number(row['updated_at']),
  };
}

export function inventoryCertificateOf(row: Row): InventoryCertificateRecord {
  return {
    fingerprint: row['fingerprint'] as string,
    source: row['source'] as InventoryCertificateRecord['source'],
    serial: row['serial'] as string,
    name: row['name'] as string,
    subject: row['subject'] as string,
    notBefore: Number(row['not_before']),
    notAfter: Number(row['not_after']),
    owner: row['owner'] as string,
    labels: JSON.parse(row['labels'] as string) as Record<string, string>,
    status: row['status'] as CertificateStatus,
    der: new Uint8Array(row['der'] as Uint8Array),
    chain: (JSON.parse(row['chain'] as string) as string[]).map((b) => new Uint8Array(Buffer.from(b, 'base64'))),
    recordedAt: Number(row['recorded_at']),
  };
}

export function sightingOf(row: Row): SightingRecord {
  return {
    fingerprint: row['fingerprint'] as string,
    location: row['location'] as string,
    firstSeen: Number(row['first_seen']),
    lastSeen: Number(row['last_seen']),
  };
}

export function alertOf(row: Row): AlertRecord {
  return {
    alertId: row['alert_id'] as string,
    certificateId: row['certificate_id'] as string,
    threshold: row['threshold'] as ExpiryThreshold,
    severity: row['severity'] as AlertSeverity,
    source: row['source'] as string,
    serial: row['serial'] as string,
    subject: row['subject'] as string,
    owner: row['owner'] as string,
    notAfter: Number(row['not_after']),
    message: row['message'] as string,
    raisedAt: Number(row['raised_at']),
    resolvedAt: row['resolved_at'] === null || row['resolved_at'] === undefined ? null : Number(row['resolved_at']),
    resolution: (row['resolution'] as AlertResolution | null) ?? null,
  };
}

export function alertDeliveryOf(row: Row): AlertDeliveryRecord {
  return {
    deliveryId: row['delivery_id'] as string,
    alertId: row['alert_id'] as string,
    event: row['event'] as AlertDeliveryRecord['event'],
    channel: row['channel'] as AlertDeliveryRecord['channel'],
    target: row['target'] as string,
    attempt: Number(row['attempt']),
    attemptedAt: Number(row['attempted_at']),
    outcome: row['outcome'] as AlertDeliveryRecord['outcome'],
    detail: row['detail'] as string,
  };
}
