import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { X509Certificate as NodeX509, createHash, createPublicKey } from 'node:crypto';
import { ErrorCode, SigilError } from './errors.ts';
import type { PublicKeyFacts } from './key-type.ts';

/**
 * A certificate decoded once into plain, frozen facts, so validators are pure functions of data and never
 * re-parse or read display strings (SAN display strings quote URIs with commas; see TOOLCHAIN.md).
 */
export interface X509Facts {
  readonly der: Uint8Array;
  /** 1, 2 or 3 (X.509 v1..v3). */
  readonly version: number;
  /** The outer signatureAlgorithm equals the signed tbsCertificate.signature, as RFC 5280 4.1.1.2 requires. */
  readonly signatureAlgorithmsMatch: boolean;
  /** Lowercase hex, without the DER sign-padding zero byte. */
  readonly serial: string;
  readonly subject: string;
  readonly issuer: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly basicConstraintsPresent: boolean;
  readonly basicConstraintsCritical: boolean;
  readonly isCa: boolean;
  readonly pathLen: number | undefined;
  readonly keyUsagePresent: boolean;
  readonly keyUsageCritical: boolean;
  readonly keyUsage: readonly KeyUsageBit[];
  readonly extKeyUsagePresent: boolean;
  /** EKU OIDs in certificate order. */
  readonly extKeyUsage: readonly string[];
  /** Names of the known EKU OIDs (serverAuth, clientAuth, ...). */
  readonly extKeyUsageNames: readonly string[];
  readonly uriSans: readonly string[];
  readonly dnsSans: readonly string[];
  readonly ipSans: readonly string[];
  readonly subjectKeyId: string | undefined;
  readonly authorityKeyId: string | undefined;
  /** The AKI carries authorityCertIssuer/serial instead of (or besides) a key identifier. */
  readonly authorityKeyIdHasCertId: boolean;
  readonly publicKey: PublicKeyFacts;
  readonly signatureAlgorithmOid: string;
  /** 'SHA-256', 'SHA-384', 'SHA-512', 'SHA-1', ... or 'unknown' (e.g. RSA-PSS, EdDSA). */
  readonly signatureHash: string;
  /** Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo: identifies the key across certificates. */
  readonly spkiSha256: string;
  readonly extensions: readonly { readonly oid: string; readonly critical: boolean }[];
}

export const KEY_USAGE_BITS = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;
export type KeyUsageBit = (typeof KEY_USAGE_BITS)[number];

export const EKU_OIDS = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  ocspSigning: '1.3.6.1.5.5.7.3.9',
  anyExtendedKeyUsage: '2.5.29.37.0',
} as const;

export const EXT_OIDS = {
  subjectKeyId: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  certificatePolicies: '2.5.29.32',
  policyConstraints: '2.5.29.36',
  authorityKeyId: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  inhibitAnyPolicy: '2.5.29.54',
} as const;

const SIGNATURE_HASHES: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.1.4': 'MD5',
  '1.2.840.113549.1.1.5': 'SHA-1',
  '1.2.840.113549.1.1.14': 'SHA-224',
  '1.2.840.113549.1.1.11': 'SHA-256',
  '1.2.840.113549.1.1.12': 'SHA-384',
  '1.2.840.113549.1.1.13': 'SHA-512',
  '1.2.840.10045.4.1': 'SHA-1',
  '1.2.840.10045.4.3.1': 'SHA-224',
  '1.2.840.10045.4.3.2': 'SHA-256',
  '1.2.840.10045.4.3.3': 'SHA-384',
  '1.2.840.10045.4.3.4': 'SHA-512',
};

const NODE_CURVES: Readonly<Record<string, string>> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

/**
 * Decoded certificates by their DER. Decoding is pure-JS ASN.1 and costs milliseconds, and the same few certificates
 * (roots, intermediates, the control plane's signer) are decoded again on every path validation; the facts are
 * frozen, so one decoding serves every caller. Bounded: the oldest entry goes first.
 */
const decoded = new Map<string, X509Facts>();
const DECODED_MAX = 512;

/** Decodes a DER certificate, or throws SVID_INVALID naming what could not be read. */
export function parseX509Facts(der: Uint8Array): X509Facts {
  const key = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  const known = decoded.get(key);
  // Everything in the facts is frozen but the DER bytes, which cannot be: each caller gets its own copy of those.
  if (known) return Object.freeze({ ...known, der: new Uint8Array(known.der) });
  const facts = decodeX509Facts(der);
  decoded.set(key, facts);
  if (decoded.size > DECODED_MAX) decoded.delete(decoded.keys().next().value as string);
  return Object.freeze({ ...facts, der: new Uint8Array(facts.der) });
}

function decodeX509Facts(der: Uint8Array): X509Facts {
  let cert: x509.X509Certificate;
  let node: NodeX509;
  try {
    cert = new x509.X509Certificate(der);
    node = new NodeX509(der);
  } catch (cause) {
    throw new SigilError(
      ErrorCode.SVID_INVALID,
      'the certificate could not be decoded: supply a DER/PEM X.509 certificate',
      {
        cause,
        details: { reason: 'undecodable' },
      },
    );
  }
  try {
    return Object.freeze(factsOf(cert, node, der));
  } catch (cause) {
    if (cause instanceof SigilError) throw cause;
    throw new SigilError(
      ErrorCode.SVID_INVALID,
      `the certificate has an undecodable field: ${String((cause as Error).message ?? cause)}`,
      {
        cause,
        details: { reason: 'undecodable' },
      },
    );
  }
}

function factsOf(cert: x509.X509Certificate, node: NodeX509, der: Uint8Array) {
  const extensions = cert.extensions.map((e) => Object.freeze({ oid: e.type, critical: e.critical }));
  const seen = new Set<string>();
  for (const e of extensions) {
    if (seen.has(e.oid)) {
      throw new SigilError(
        ErrorCode.SVID_INVALID,
        `the certificate repeats extension ${e.oid}, which RFC 5280 forbids`,
        {
          details: { reason: 'duplicate-extension' },
        },
      );
    }
    seen.add(e.oid);
  }
  const raw = (oid: string): x509.Extension | undefined => cert.extensions.find((e) => e.type === oid);

  const bcExt = raw(EXT_OIDS.basicConstraints);
  const bc = bcExt ? new x509.BasicConstraintsExtension(bcExt.rawData) : undefined;
  const kuExt = raw(EXT_OIDS.keyUsage);
  const kuFlags = kuExt ? new x509.KeyUsagesExtension(kuExt.rawData).usages : 0;
  const ekuExt = raw(EXT_OIDS.extKeyUsage);
  const eku = ekuExt ? new x509.ExtendedKeyUsageExtension(ekuExt.rawData).usages.map(String) : [];
  const sanExt = raw(EXT_OIDS.subjectAltName);
  const sans = sanExt ? new x509.SubjectAlternativeNameExtension(sanExt.rawData).names.items : [];
  const skiExt = raw(EXT_OIDS.subjectKeyId);
  const akiExt = raw(EXT_OIDS.authorityKeyId);
  const spki = new Uint8Array(cert.publicKey.rawData);
  const sigOid = node.signatureAlgorithmOid ?? '';
  const aki = akiExt ? new x509.AuthorityKeyIdentifierExtension(akiExt.rawData) : undefined;
  const layout = readLayout(der);

  return {
    der: new Uint8Array(der),
    version: layout.version,
    signatureAlgorithmsMatch: layout.signatureAlgorithmsMatch,
    serial: cert.serialNumber.toLowerCase(),
    subject: cert.subject,
    issuer: cert.issuer,
    notBefore: cert.notBefore.getTime(),
    notAfter: cert.notAfter.getTime(),
    basicConstraintsPresent: bcExt !== undefined,
    basicConstraintsCritical: bcExt?.critical ?? false,
    isCa: bc?.ca ?? false,
    pathLen: bc?.ca ? bc.pathLength : undefined,
    keyUsagePresent: kuExt !== undefined,
    keyUsageCritical: kuExt?.critical ?? false,
    keyUsage: Object.freeze(KEY_USAGE_BITS.filter((_, i) => (kuFlags & (1 << i)) !== 0)),
    extKeyUsagePresent: ekuExt !== undefined,
    extKeyUsage: Object.freeze(eku),
    extKeyUsageNames: Object.freeze(
      eku.flatMap((oid) =>
        Object.entries(EKU_OIDS)
          .filter(([, o]) => o === oid)
          .map(([n]) => n),
      ),
    ),
    uriSans: Object.freeze(sans.filter((n) => n.type === 'url').map((n) => n.value)),
    dnsSans: Object.freeze(sans.filter((n) => n.type === 'dns').map((n) => n.value)),
    ipSans: Object.freeze(sans.filter((n) => n.type === 'ip').map((n) => n.value)),
    subjectKeyId: skiExt ? new x509.SubjectKeyIdentifierExtension(skiExt.rawData).keyId.toLowerCase() : undefined,
    authorityKeyId: aki?.keyId?.toLowerCase(),
    authorityKeyIdHasCertId: aki?.certId !== undefined,
    publicKey: publicKeyFacts(spki),
    signatureAlgorithmOid: sigOid,
    signatureHash: SIGNATURE_HASHES[sigOid] ?? 'unknown',
    spkiSha256: createHash('sha256').update(spki).digest('hex'),
    extensions: Object.freeze(extensions),
  };
}

function publicKeyFacts(spki: Uint8Array): PublicKeyFacts {
  try {
    const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    const details = key.asymmetricKeyDetails ?? {};
    if (key.asymmetricKeyType === 'ec') {
      const curve = details.namedCurve ?? 'unknown';
      return Object.freeze({ kind: 'ec', namedCurve: NODE_CURVES[curve] ?? curve });
    }
    if (key.asymmetricKeyType === 'rsa') return Object.freeze({ kind: 'rsa', modulusBits: details.modulusLength ?? 0 });
    return Object.freeze({ kind: 'other', algorithm: key.asymmetricKeyType ?? 'unknown' });
  } catch {
    return Object.freeze({ kind: 'other', algorithm: 'undecodable' });
  }
}

/**
 * Reads the two facts the libraries do not expose: the version and whether both signature AlgorithmIdentifiers
 * are byte-identical. Only walks DER headers; the structure was already accepted by the full parsers above.
 */
function readLayout(der: Uint8Array): { version: number; signatureAlgorithmsMatch: boolean } {
  const tlv = (at: number): { tag: number; start: number; end: number } => {
    const tag = der[at] ?? -1;
    let len = der[at + 1] ?? 0;
    let start = at + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + (der[start + i] ?? 0);
      start += n;
    }
    return { tag, start, end: start + len };
  };
  const cert = tlv(0);
  const tbs = tlv(cert.start);
  let field = tlv(tbs.start);
  let version = 1;
  if (field.tag === 0xa0) {
    const int = tlv(field.start);
    version = (der[int.end - 1] ?? 0) + 1;
    field = tlv(field.end);
  }
  const tbsSigAlg = tlv(field.end);
  const outerSigAlg = tlv(tbs.end);
  const bytes = (x: { start: number; end: number }, headerAt: number) => Buffer.from(der.subarray(headerAt, x.end));
  const signatureAlgorithmsMatch = bytes(tbsSigAlg, field.end).equals(bytes(outerSigAlg, tbs.end));
  return { version, signatureAlgorithmsMatch };
}
