import * as asn1js from 'asn1js';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import * as pkijs from 'pkijs';
import { type EssMatch, essNamesCertificate } from './ess-certificate-id.ts';
import { type DigestName, digestOfOid, nodeDigestName, OID } from './oids.ts';

/**
 * Checks the one SignerInfo of a SignedData (a file signature or a time-stamp token) step by step, so a verifier
 * can say which step failed: the signer certificate is found among the certificates, the messageDigest attribute
 * equals the content's digest, the signature over the signed attributes verifies with the certificate's key, and the
 * ESS signing-certificate attribute names that certificate. pkijs parses; node:crypto verifies.
 */

export interface SignerFacts {
  /** DER of the certificate the SignerInfo names, when the SignedData carries it. */
  readonly signerCertificate: Uint8Array | undefined;
  /** Every certificate the SignedData carries (candidates for the chain). */
  readonly certificates: readonly Uint8Array[];
  /** The content digest algorithm, when Sigil accepts it. */
  readonly digest: DigestName | undefined;
  readonly digestMatches: boolean;
  readonly signatureValid: boolean;
  /** Why the signature did not verify (undefined when it did). */
  readonly signatureProblem: string | undefined;
  readonly ess: EssMatch | { readonly ok: false; readonly reason: 'absent' };
  /** The signingTime attribute (ms), a claim of the signer only. */
  readonly signingTime: number | undefined;
}

const SIGNATURE_HASHES: Readonly<Record<string, DigestName | 'content'>> = {
  [OID.ecdsaWithSha256]: 'SHA-256',
  [OID.ecdsaWithSha384]: 'SHA-384',
  [OID.ecdsaWithSha512]: 'SHA-512',
  [OID.sha256WithRsa]: 'SHA-256',
  [OID.sha384WithRsa]: 'SHA-384',
  [OID.sha512WithRsa]: 'SHA-512',
  // rsaEncryption names no hash: the digestAlgorithm applies (RFC 5652 5.6).
  [OID.rsaEncryption]: 'content',
};

function certificateDer(cert: pkijs.Certificate): Uint8Array {
  return new Uint8Array(cert.toSchema(true).toBER());
}

function findSigner(data: pkijs.SignedData, info: pkijs.SignerInfo): pkijs.Certificate | undefined {
  const certs = (data.certificates ?? []).filter((c): c is pkijs.Certificate => c instanceof pkijs.Certificate);
  if (info.sid instanceof pkijs.IssuerAndSerialNumber) {
    const sid = info.sid;
    return certs.find((c) => c.issuer.isEqual(sid.issuer) && c.serialNumber.isEqual(sid.serialNumber));
  }
  // subjectKeyIdentifier form: [0] IMPLICIT OCTET STRING.
  const sid = info.sid as asn1js.Constructed | asn1js.Primitive;
  const keyId = Buffer.from(
    sid.idBlock.isConstructed
      ? ((sid as asn1js.Constructed).valueBlock.value[0] as asn1js.OctetString).valueBlock.valueHexView
      : (sid as asn1js.Primitive).valueBlock.valueHexView,
  );
  return certs.find((c) => {
    const ext = c.extensions?.find((e) => e.extnID === '2.5.29.14');
    const ski = ext?.parsedValue as asn1js.OctetString | undefined;
    return ski !== undefined && Buffer.from(ski.valueBlock.valueHexView).equals(keyId);
  });
}

function attributeValue(info: pkijs.SignerInfo, type: string): asn1js.AsnType | undefined {
  const attrs = info.signedAttrs?.attributes.filter((a) => a.type === type) ?? [];
  // RFC 5652 11: contentType, messageDigest and signingTime occur once, with one value.
  if (attrs.length !== 1 || attrs[0]!.values.length !== 1) return undefined;
  return attrs[0]!.values[0] as asn1js.AsnType;
}

/**
 * `contentDigest` computes the digest of the signed content (the detached file, or a token's TSTInfo) with the
 * algorithm the SignerInfo names.
 */
export async function checkSigner(
  data: pkijs.SignedData,
  contentDigest: (digest: DigestName) => Promise<Uint8Array>,
): Promise<SignerFacts> {
  const info = data.signerInfos[0]!;
  const certificates = (data.certificates ?? [])
    .filter((c): c is pkijs.Certificate => c instanceof pkijs.Certificate)
    .map(certificateDer);
  const signer = findSigner(data, info);
  const signerCertificate = signer ? certificateDer(signer) : undefined;
  const digest = digestOfOid(info.digestAlgorithm.algorithmId);
  const time = attributeValue(info, OID.signingTime);
  const signingTime =
    time instanceof asn1js.UTCTime || time instanceof asn1js.GeneralizedTime ? time.toDate().getTime() : undefined;
  const base = { signerCertificate, certificates, digest, signingTime };

  const md = attributeValue(info, OID.messageDigest);
  const ct = attributeValue(info, OID.contentType);
  const expectedType = data.encapContentInfo.eContentType;
  if (!info.signedAttrs || !(md instanceof asn1js.OctetString) || !(ct instanceof asn1js.ObjectIdentifier)) {
    return {
      ...base,
      digestMatches: false,
      signatureValid: false,
      signatureProblem: 'the signed attributes lack a single contentType and messageDigest',
      ess: { ok: false, reason: 'absent' },
    };
  }
  const digestMatches =
    digest !== undefined &&
    ct.getValue() === expectedType &&
    Buffer.from(await contentDigest(digest)).equals(Buffer.from(md.valueBlock.valueHexView));
  const signed = new Uint8Array(info.signedAttrs.encodedValue);
  const signatureProblem = verifySignature(info, signer, signed, digest);
  return {
    ...base,
    digestMatches,
    signatureValid: signatureProblem === undefined,
    signatureProblem,
    ess: signerCertificate ? essOf(info, signerCertificate) : { ok: false, reason: 'absent' },
  };
}

function verifySignature(
  info: pkijs.SignerInfo,
  signer: pkijs.Certificate | undefined,
  signed: Uint8Array,
  digest: DigestName | undefined,
): string | undefined {
  if (!signer) return 'the certificate named by the signer is not in the signature';
  const named = SIGNATURE_HASHES[info.signatureAlgorithm.algorithmId];
  const hash = named === 'content' ? digest : named;
  if (hash === undefined) {
    return `signature algorithm ${info.signatureAlgorithm.algorithmId} with digest ${info.digestAlgorithm.algorithmId} is not accepted: use ECDSA or RSA with SHA-256 or stronger`;
  }
  try {
    const key = createPublicKey({
      key: Buffer.from(signer.subjectPublicKeyInfo.toSchema().toBER()),
      format: 'der',
      type: 'spki',
    });
    const ok = nodeVerify(
      nodeDigestName(hash),
      signed,
      { key, dsaEncoding: 'der' },
      info.signature.valueBlock.valueHexView,
    );
    return ok ? undefined : 'the signature does not verify with the signer certificate key';
  } catch (err) {
    return `the signature cannot be checked: ${(err as Error).message}`;
  }
}

function essOf(info: pkijs.SignerInfo, certDer: Uint8Array): SignerFacts['ess'] {
  const v2 = attributeValue(info, OID.signingCertificateV2);
  if (v2) return essNamesCertificate(new Uint8Array(v2.toBER()), 2, certDer);
  const v1 = attributeValue(info, OID.signingCertificate);
  if (v1) return essNamesCertificate(new Uint8Array(v1.toBER()), 1, certDer);
  return { ok: false, reason: 'absent' };
}
