import type { sigil } from '../../proto/index.ts';
import type { CertificateRecord } from '../store/store.ts';

/** An inventory row on the wire. */
export function certificateMessage(record: CertificateRecord): sigil.v1.ICertificate {
  return {
    serial: record.serial,
    spiffeId: record.spiffeId,
    kind: record.kind,
    keyType: record.keyType,
    notBeforeUnixMs: record.notBefore,
    notAfterUnixMs: record.notAfter,
    issuerSerial: record.issuerSerial ?? '',
    // A renewal replaced it: still valid, but no longer the one in use (issue 20; issue 12 owns the full status model).
    status: record.status === 'active' && record.supersededBy ? 'superseded' : record.status,
    issuedAtUnixMs: record.issuedAt,
    der: record.der,
  };
}
