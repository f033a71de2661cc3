import type { CertificateRecord } from './store.ts';

// The records both store contracts (store-contract.ts, store-contract-listing.ts) start from.
export const T0 = Date.UTC(2026, 0, 1);
export const HOUR = 3_600_000;
export const API = 'spiffe://example.org/ns/prod/sa/api';
export const WEB = 'spiffe://example.org/ns/prod/sa/web';

export function cert(serial: string, overrides: Partial<CertificateRecord> = {}): CertificateRecord {
  return {
    serial,
    spiffeId: API,
    kind: 'svid',
    keyType: 'ec-p256',
    notBefore: T0,
    notAfter: T0 + HOUR,
    issuerSerial: 'ca01',
    status: 'active',
    issuedAt: T0,
    publicKeySha256: `${serial}`.padStart(64, '0'),
    der: Uint8Array.from([0x30, 0x82, serial.length, 0x00, 0xff]),
    supersededBy: null,
    ...overrides,
  };
}
