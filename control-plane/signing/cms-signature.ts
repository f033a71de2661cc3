import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { OID } from './oids.ts';
import { attribute, contentInfoDer, signedData, signerInfo } from './signer-info.ts';
import type { SigningKey } from './signing-key.ts';

/**
 * Detached CMS SignedData over a file (RFC 5652), the format `openssl cms -verify -binary -content FILE` reads:
 * id-data without eContent, the signer's chain as certificates, signed attributes (contentType, messageDigest,
 * signingTime, signingCertificateV2), and later an RFC 3161 token as the id-aa-timeStampToken unsigned attribute.
 */

export interface DetachedSignatureInput {
  /** The file's digest with signatureAlgorithmOf(key.keyType).digest. */
  readonly contentDigest: Uint8Array;
  /** The signing certificate first, then the CAs up to (not including) the root. */
  readonly chainDer: readonly Uint8Array[];
  readonly key: SigningKey;
  readonly signingTime: number;
}

export async function createDetachedSignature(input: DetachedSignatureInput): Promise<pkijs.SignedData> {
  const leafDer = input.chainDer[0];
  if (!leafDer) throw new SigilError(ErrorCode.SIGNING_CERT, 'no signing certificate was given: pass --cert');
  const info = await signerInfo({
    certificate: pkijs.Certificate.fromBER(leafDer),
    certificateDer: leafDer,
    key: input.key,
    contentType: OID.data,
    contentDigest: input.contentDigest,
    signingTime: input.signingTime,
  });
  return signedData(info, new pkijs.EncapsulatedContentInfo({ eContentType: OID.data }), input.chainDer);
}

function onlySigner(data: pkijs.SignedData): pkijs.SignerInfo {
  const [info, ...others] = data.signerInfos;
  if (!info || others.length > 0) {
    throw new SigilError(
      ErrorCode.SIGNATURE_INVALID,
      `the signature holds ${data.signerInfos.length} signers; Sigil signatures have exactly one`,
      { details: { check: 'format' } },
    );
  }
  return info;
}

/** The SignerInfo's signature value: what the time-stamp token's imprint hashes (RFC 3161 appendix A). */
export function signatureValueOf(data: pkijs.SignedData): Uint8Array {
  return new Uint8Array(onlySigner(data).signature.valueBlock.valueHexView);
}

/** Embeds a TimeStampToken (ContentInfo DER) as the id-aa-timeStampToken unsigned attribute of the signer. */
export function attachTimestampToken(data: pkijs.SignedData, tokenDer: Uint8Array): void {
  const parsed = asn1js.fromBER(Uint8Array.from(tokenDer));
  if (parsed.offset === -1) throw new SigilError(ErrorCode.TSA_REPLY, 'the time-stamp token is not DER');
  onlySigner(data).unsignedAttrs = new pkijs.SignedAndUnsignedAttributes({
    type: 1,
    attributes: [attribute(OID.timeStampToken, parsed.result)],
  });
}

/** The embedded token (ContentInfo DER), or undefined for an untimestamped signature. */
export function timestampTokenOf(data: pkijs.SignedData): Uint8Array | undefined {
  const attr = onlySigner(data).unsignedAttrs?.attributes.find((a) => a.type === OID.timeStampToken);
  const value = attr?.values[0] as asn1js.AsnType | undefined;
  return value ? new Uint8Array(value.toBER()) : undefined;
}

const PEM_LABEL = 'CMS';

export function encodeSignature(data: pkijs.SignedData, format: 'der' | 'pem'): Uint8Array {
  const der = contentInfoDer(data);
  if (format === 'der') return der;
  const body = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return new TextEncoder().encode(`-----BEGIN ${PEM_LABEL}-----\n${body}\n-----END ${PEM_LABEL}-----\n`);
}

const PEM = /-----BEGIN (CMS|PKCS7)-----([\s\S]+?)-----END \1-----/;

function malformed(message: string, cause?: unknown): SigilError {
  return new SigilError(ErrorCode.SIGNATURE_INVALID, message, { details: { check: 'format' }, cause });
}

/** Reads a .p7s (DER, or PEM labelled CMS or PKCS7) into its SignedData; anything else fails the `format` check. */
export function decodeSignature(bytes: Uint8Array): pkijs.SignedData {
  const text = Buffer.from(bytes).toString('latin1');
  const pem = PEM.exec(text);
  const der = pem ? new Uint8Array(Buffer.from(pem[2]!.replace(/\s+/g, ''), 'base64')) : bytes;
  let info: pkijs.ContentInfo;
  try {
    info = pkijs.ContentInfo.fromBER(Uint8Array.from(der));
  } catch (cause) {
    throw malformed(
      'the signature file is not a CMS structure (DER or PEM): pass the .p7s that sigil sign wrote',
      cause,
    );
  }
  if (info.contentType !== OID.signedData) {
    throw malformed(`the signature file holds CMS content ${info.contentType}, not SignedData`);
  }
  let data: pkijs.SignedData;
  try {
    data = new pkijs.SignedData({ schema: info.content });
  } catch (cause) {
    throw malformed('the SignedData in the signature file cannot be decoded', cause);
  }
  if (data.encapContentInfo.eContent !== undefined) {
    throw malformed('the signature embeds its content; Sigil verifies detached signatures (sigil sign writes them)');
  }
  onlySigner(data);
  return data;
}
