import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { signingCertificateV2Value } from './ess-certificate-id.ts';
import { OID, oidOfDigest } from './oids.ts';
import { signatureAlgorithmOf, type SigningKey } from './signing-key.ts';

/**
 * Builds one SignerInfo with signed attributes (RFC 5652 section 5.3-5.4), signed through a SigningKey so the key
 * may live anywhere. Shared by code signatures and time-stamp tokens.
 */

export interface SignerInfoInput {
  /** The signer's certificate, parsed by pkijs, and its DER. */
  readonly certificate: pkijs.Certificate;
  readonly certificateDer: Uint8Array;
  readonly key: SigningKey;
  /** eContentType: id-data for a detached file signature, id-ct-TSTInfo for a token. */
  readonly contentType: string;
  /** Digest of the content with the key's digest algorithm (signatureAlgorithmOf(key.keyType).digest). */
  readonly contentDigest: Uint8Array;
  /** Claimed signing time (ms); whole seconds are kept. Not trusted by verifiers: the timestamp is. */
  readonly signingTime?: number;
}

export function attribute(type: string, value: asn1js.AsnType): pkijs.Attribute {
  return new pkijs.Attribute({ type, values: [value] });
}

/**
 * DER wants a SET OF sorted by the encodings of its elements. pkijs keeps the given order, and OpenSSL re-encodes
 * signed attributes in DER before checking the signature, so an unsorted set would not verify there.
 */
function derSorted(attributes: pkijs.Attribute[]): pkijs.Attribute[] {
  const encoded = attributes.map((a) => ({ a, der: Buffer.from(a.toSchema().toBER()) }));
  encoded.sort((x, y) => Buffer.compare(x.der, y.der));
  return encoded.map((e) => e.a);
}

export async function signerInfo(input: SignerInfoInput): Promise<pkijs.SignerInfo> {
  const { digest, signatureOid } = signatureAlgorithmOf(input.key.keyType);
  const cert = input.certificate;
  const attributes: pkijs.Attribute[] = [
    attribute(OID.contentType, new asn1js.ObjectIdentifier({ value: input.contentType })),
    attribute(OID.messageDigest, new asn1js.OctetString({ valueHex: Uint8Array.from(input.contentDigest) })),
    attribute(
      OID.signingCertificateV2,
      asn1js.fromBER(
        signingCertificateV2Value({
          der: input.certificateDer,
          issuerNameDer: new Uint8Array(cert.issuer.toSchema().toBER()),
          serialBytes: cert.serialNumber.valueBlock.valueHexView,
        }),
      ).result,
    ),
  ];
  if (input.signingTime !== undefined) {
    const seconds = new Date(Math.floor(input.signingTime / 1000) * 1000);
    // RFC 5652 11.3: UTCTime for dates from 1950 through 2049, GeneralizedTime otherwise.
    const year = seconds.getUTCFullYear();
    attributes.push(
      attribute(
        OID.signingTime,
        year >= 1950 && year < 2050
          ? new asn1js.UTCTime({ valueDate: seconds })
          : new asn1js.GeneralizedTime({ valueDate: seconds }),
      ),
    );
  }
  const sorted = derSorted(attributes);
  const toBeSigned = new Uint8Array(new asn1js.Set({ value: sorted.map((a) => a.toSchema()) }).toBER());
  const signature = await input.key.sign(toBeSigned, digest);
  return new pkijs.SignerInfo({
    version: 1,
    sid: new pkijs.IssuerAndSerialNumber({ issuer: cert.issuer, serialNumber: cert.serialNumber }),
    // RFC 5754: SHA-2 AlgorithmIdentifiers carry no parameters; RSA signature algorithms carry NULL.
    digestAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: oidOfDigest(digest) }),
    signedAttrs: new pkijs.SignedAndUnsignedAttributes({ type: 0, attributes: sorted }),
    signatureAlgorithm: new pkijs.AlgorithmIdentifier({
      algorithmId: signatureOid,
      ...(input.key.keyType.startsWith('rsa-') ? { algorithmParams: new asn1js.Null() } : {}),
    }),
    signature: new asn1js.OctetString({ valueHex: Uint8Array.from(signature) }),
  });
}

/** A SignedData around one SignerInfo, carrying `chainDer` (signer first) as its certificates. */
export function signedData(
  info: pkijs.SignerInfo,
  encapContentInfo: pkijs.EncapsulatedContentInfo,
  chainDer: readonly Uint8Array[],
): pkijs.SignedData {
  return new pkijs.SignedData({
    // RFC 5652 5.1: version 3 when the content is anything but id-data (a TSTInfo).
    version: encapContentInfo.eContentType === OID.data ? 1 : 3,
    digestAlgorithms: [info.digestAlgorithm],
    encapContentInfo,
    certificates: chainDer.map((der) => pkijs.Certificate.fromBER(der)),
    signerInfos: [info],
  });
}

/** ContentInfo { id-signedData, SignedData } in DER. */
export function contentInfoDer(data: pkijs.SignedData): Uint8Array {
  const info = new pkijs.ContentInfo({ contentType: OID.signedData, content: data.toSchema(true) });
  return new Uint8Array(info.toSchema().toBER());
}
