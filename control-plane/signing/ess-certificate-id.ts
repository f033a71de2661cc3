import 'reflect-metadata';
import { AsnConvert, AsnProp, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, GeneralName, GeneralNames, Name } from '@peculiar/asn1-x509';
import { IssuerSerial } from '@peculiar/asn1-x509-attr';
import { createHash } from 'node:crypto';
import { type DigestName, digestOfOid, nodeDigestName, OID, oidOfDigest } from './oids.ts';

/**
 * The ESS signing-certificate attributes (RFC 2634 ESSCertID, RFC 5035 ESSCertIDv2) as @peculiar/asn1-schema
 * types: neither pkijs nor the installed @peculiar schema packages define them. They bind a signature to the one
 * certificate that made it, so a substituted certificate with the same key cannot pass; RFC 5816 requires it in
 * time-stamp tokens, and `openssl ts -verify` checks it. The decorators are applied as functions because Node's type
 * stripping does not run decorator syntax.
 */

/** ESSCertIDv2 ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier DEFAULT sha256, certHash OCTET STRING, issuerSerial OPTIONAL } */
export class EssCertIdV2 {
  hashAlgorithm = new AlgorithmIdentifier({ algorithm: OID.sha256 });
  certHash = new OctetString();
  issuerSerial?: IssuerSerial;
  constructor(params: Partial<EssCertIdV2> = {}) {
    Object.assign(this, params);
  }
}
AsnProp({
  type: AlgorithmIdentifier,
  optional: true,
  defaultValue: new AlgorithmIdentifier({ algorithm: OID.sha256 }),
})(EssCertIdV2.prototype, 'hashAlgorithm');
AsnProp({ type: OctetString })(EssCertIdV2.prototype, 'certHash');
AsnProp({ type: IssuerSerial, optional: true })(EssCertIdV2.prototype, 'issuerSerial');

/** SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies SEQUENCE OF PolicyInformation OPTIONAL } */
export class SigningCertificateV2 {
  certs: EssCertIdV2[] = [];
  constructor(params: Partial<SigningCertificateV2> = {}) {
    Object.assign(this, params);
  }
}
AsnProp({ type: EssCertIdV2, repeated: 'sequence' })(SigningCertificateV2.prototype, 'certs');

/** ESSCertID ::= SEQUENCE { certHash OCTET STRING (SHA-1), issuerSerial OPTIONAL }: only read, for external TSAs. */
export class EssCertId {
  certHash = new OctetString();
  issuerSerial?: IssuerSerial;
}
AsnProp({ type: OctetString })(EssCertId.prototype, 'certHash');
AsnProp({ type: IssuerSerial, optional: true })(EssCertId.prototype, 'issuerSerial');

export class SigningCertificate {
  certs: EssCertId[] = [];
}
AsnProp({ type: EssCertId, repeated: 'sequence' })(SigningCertificate.prototype, 'certs');

export interface CertificateIdentity {
  readonly der: Uint8Array;
  /** The issuer's DER Name and the serial's DER INTEGER content, as the certificate holds them. */
  readonly issuerNameDer: Uint8Array;
  readonly serialBytes: Uint8Array;
}

/** The DER value of a signingCertificateV2 attribute naming `cert`, hashed with `digest`. */
export function signingCertificateV2Value(cert: CertificateIdentity, digest: DigestName = 'SHA-256'): Uint8Array {
  const issuerSerial = new IssuerSerial({
    issuer: new GeneralNames([new GeneralName({ directoryName: AsnConvert.parse(cert.issuerNameDer, Name) })]),
    serial: Uint8Array.from(cert.serialBytes).buffer,
  });
  // The schema's default for issuerUID is an empty buffer; the field is absent here, as RFC 5035 defines it.
  (issuerSerial as { issuerUID?: ArrayBuffer }).issuerUID = undefined;
  const id = new EssCertIdV2({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: oidOfDigest(digest) }),
    certHash: new OctetString(hash(digest, cert.der)),
    issuerSerial,
  });
  return new Uint8Array(AsnConvert.serialize(new SigningCertificateV2({ certs: [id] })));
}

export type EssMatch = { readonly ok: true; readonly version: 1 | 2 } | { readonly ok: false; readonly reason: string };

/**
 * Checks that the first ESSCertID(v2) of a signing-certificate attribute names `certDer` (RFC 5035 section 5.4:
 * the first entry is the signer's). `version` says which attribute the value came from.
 */
export function essNamesCertificate(value: Uint8Array, version: 1 | 2, certDer: Uint8Array): EssMatch {
  let certHash: Uint8Array;
  let digest: DigestName | 'SHA-1' | undefined;
  try {
    if (version === 2) {
      const first = AsnConvert.parse(value, SigningCertificateV2).certs[0];
      if (!first) return { ok: false, reason: 'the signing-certificate attribute names no certificate' };
      digest = digestOfOid(first.hashAlgorithm.algorithm);
      certHash = new Uint8Array(first.certHash.buffer);
    } else {
      const first = AsnConvert.parse(value, SigningCertificate).certs[0];
      if (!first) return { ok: false, reason: 'the signing-certificate attribute names no certificate' };
      digest = 'SHA-1';
      certHash = new Uint8Array(first.certHash.buffer);
    }
  } catch {
    return { ok: false, reason: 'the signing-certificate attribute cannot be decoded' };
  }
  if (digest === undefined) return { ok: false, reason: 'the signing-certificate attribute uses an unknown hash' };
  if (!Buffer.from(hash(digest, certDer)).equals(Buffer.from(certHash))) {
    return { ok: false, reason: 'the signing-certificate attribute names another certificate than the signer' };
  }
  return { ok: true, version };
}

function hash(digest: DigestName | 'SHA-1', data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(nodeDigestName(digest)).update(data).digest());
}
