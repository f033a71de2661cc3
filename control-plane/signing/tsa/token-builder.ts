import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { OID } from '../oids.ts';
import { contentInfoDer, signedData, signerInfo } from '../signer-info.ts';
import { signatureAlgorithmOf, type SigningKey } from '../signing-key.ts';
import { digestOf } from '../timestamp-token.ts';

/** What goes into one TimeStampToken; the TSA decides it, this module only encodes and signs it. */
export interface TokenContent {
  /** The TSA certificate first, then its CAs. */
  readonly chainDer: readonly Uint8Array[];
  readonly key: SigningKey;
  readonly policy: string;
  readonly messageImprint: pkijs.MessageImprint;
  /** DER INTEGER content of a positive serial. */
  readonly serial: Uint8Array;
  /** Whole seconds. */
  readonly genTime: number;
  readonly accuracyMs: number;
  readonly nonce?: asn1js.Integer;
  /** RFC 3161 2.4.1: certificates only when the request's certReq asked for them. */
  readonly includeCertificates: boolean;
}

/** A TimeStampToken (ContentInfo DER): TSTInfo signed with an ESSCertIDv2 naming the TSA certificate. */
export async function buildTimestampToken(content: TokenContent): Promise<Uint8Array> {
  const certificate = pkijs.Certificate.fromBER(content.chainDer[0]!);
  const { accuracyMs } = content;
  const tstInfo = new pkijs.TSTInfo({
    version: 1,
    policy: content.policy,
    messageImprint: content.messageImprint,
    serialNumber: new asn1js.Integer({ valueHex: Uint8Array.from(content.serial) }),
    genTime: new Date(content.genTime),
    accuracy: new pkijs.Accuracy(
      accuracyMs % 1000 === 0
        ? { seconds: accuracyMs / 1000 }
        : { seconds: Math.floor(accuracyMs / 1000), millis: accuracyMs % 1000 },
    ),
    ...(content.nonce ? { nonce: content.nonce } : {}),
    tsa: new pkijs.GeneralName({ type: 4, value: certificate.subject }),
  });
  const tstDer = new Uint8Array(tstInfo.toSchema().toBER());
  const info = await signerInfo({
    certificate,
    certificateDer: content.chainDer[0]!,
    key: content.key,
    contentType: OID.tstInfo,
    contentDigest: digestOf(signatureAlgorithmOf(content.key.keyType).digest, tstDer),
  });
  // Set after construction: pkijs's constructor would turn eContent into a chunked (BER) OCTET STRING.
  const encap = new pkijs.EncapsulatedContentInfo({ eContentType: OID.tstInfo });
  encap.eContent = new asn1js.OctetString({ valueHex: tstDer });
  return contentInfoDer(signedData(info, encap, content.includeCertificates ? content.chainDer : []));
}
