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
    status: record.status,
    issuedAtUnixMs: record.issuedAt,
    der: record.der,
  };
}
