import { X509Certificate, createHash } from 'node:crypto';
import { parseX509Facts, type X509Facts } from '../../common/x509-facts.ts';
import type { CertificateKind, CertificateRecord } from '../store/store.ts';

export const INVENTORY_SOURCES = ['issued', 'imported', 'discovered', 'acme', 'code-signing'] as const;
export type InventorySource = (typeof INVENTORY_SOURCES)[number];
export const INVENTORY_STATUSES = ['active', 'superseded', 'revoked', 'expired'] as const;
export type InventoryStatus = (typeof INVENTORY_STATUSES)[number];

/** Where and when a certificate was seen: a file path or `host:port`. */
export interface Sighting {
  readonly location: string;
  readonly firstSeen: number;
  readonly lastSeen: number;
}

/** What a certificate says about itself, read once from its DER. */
export interface CertificateDescription {
  /** SHA-256 of the DER, hex: the inventory id, unique across every source. */
  readonly fingerprintSha256: string;
  readonly fingerprintSha1: string;
  readonly serial: string;
  readonly subject: string;
  readonly issuer: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** 'ec', 'rsa', 'ed25519', ... */
  readonly keyAlgorithm: string;
  /** Modulus bits for RSA, curve size for EC, 0 when unknown. */
  readonly keyBits: number;
  readonly signatureAlgorithm: string;
  readonly signatureHash: string;
  readonly dnsNames: readonly string[];
  readonly uris: readonly string[];
  readonly ips: readonly string[];
  readonly isCa: boolean;
  /** Issuer equals subject and the certificate's own key verifies its signature. */
  readonly selfSigned: boolean;
}

/** One certificate of the inventory, whatever its source, as listed to operators and judged by the rules. */
export interface InventoryEntry extends CertificateDescription {
  readonly id: string;
  readonly source: InventorySource;
  /** The CA's kind for issued certificates; '' for others. */
  readonly kind: CertificateKind | '';
  /** SPIFFE ID, first DNS name or subject: what a successor shares. */
  readonly name: string;
  readonly owner: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Effective at the time the entry was built (see inventory-status.ts). */
  readonly status: InventoryStatus;
  /** Stored status before time and successors are considered. */
  readonly recordedStatus: 'active' | 'revoked';
  /** Set by renewal for issued certificates. */
  readonly supersededBy: string | null;
  readonly der: Uint8Array;
  /** The chain as recorded (issuers after the leaf), DER; empty for issued certificates (the CA is the chain). */
  readonly chain: readonly Uint8Array[];
  readonly seen: readonly Sighting[];
}

const SIGNATURE_NAMES: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'rsassaPss',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.3.101.112': 'Ed25519',
  '1.3.101.113': 'Ed448',
};

const CURVE_BITS: Readonly<Record<string, number>> = { 'P-256': 256, 'P-384': 384, 'P-521': 521, secp256k1: 256 };

/** The key's algorithm ('ec', 'rsa', 'ed25519', ...) and size (modulus or curve bits; 0 when unknown). */
export function keyOf(facts: X509Facts): { keyAlgorithm: string; keyBits: number } {
  const key = facts.publicKey;
  return {
    keyAlgorithm: key.kind === 'other' ? key.algorithm : key.kind,
    keyBits: key.kind === 'rsa' ? key.modulusBits : key.kind === 'ec' ? (CURVE_BITS[key.namedCurve] ?? 0) : 0,
  };
}

/** Reads the facts of a DER certificate; throws SVID_INVALID (with a message naming the problem) if it is not one. */
export function describeCertificate(der: Uint8Array): CertificateDescription {
  const facts = parseX509Facts(der);
  const node = new X509Certificate(der);
  const { keyAlgorithm, keyBits } = keyOf(facts);
  let selfSigned = false;
  if (facts.subject === facts.issuer) {
    try {
      selfSigned = node.verify(node.publicKey);
    } catch {
      selfSigned = false;
    }
  }
  return {
    fingerprintSha256: createHash('sha256').update(der).digest('hex'),
    fingerprintSha1: createHash('sha1').update(der).digest('hex'),
    serial: facts.serial,
    subject: facts.subject,
    issuer: facts.issuer,
    notBefore: facts.notBefore,
    notAfter: facts.notAfter,
    keyAlgorithm,
    keyBits,
    signatureAlgorithm: SIGNATURE_NAMES[facts.signatureAlgorithmOid] ?? facts.signatureAlgorithmOid,
    signatureHash: facts.signatureHash,
    dnsNames: facts.dnsSans,
    uris: facts.uriSans,
    ips: facts.ipSans,
    isCa: facts.isCa,
    selfSigned,
  };
}

/** The name successors share: the SPIFFE ID, else the first DNS name, else the subject. */
export function nameOf(d: CertificateDescription): string {
  return d.uris[0] ?? d.dnsNames[0] ?? d.subject;
}

export function sourceOfKind(kind: CertificateKind): InventorySource {
  if (kind === 'acme') return 'acme';
  if (kind === 'code-signing' || kind === 'timestamping') return 'code-signing';
  return 'issued';
}

/** An entry for a certificate in the CA's table (issued, ACME, code signing); status is settled later. */
export function entryOfRecord(
  record: CertificateRecord,
  describe: (der: Uint8Array) => CertificateDescription = describeCertificate,
): InventoryEntry {
  const d = describe(record.der);
  return {
    ...d,
    id: d.fingerprintSha256,
    source: sourceOfKind(record.kind),
    kind: record.kind,
    name: record.spiffeId || nameOf(d),
    owner: '',
    labels: {},
    status: record.status,
    recordedStatus: record.status,
    supersededBy: record.supersededBy ?? null,
    der: record.der,
    chain: [],
    seen: [],
  };
}
