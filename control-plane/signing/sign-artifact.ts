import { ErrorCode, isSigilError, SigilError } from '../../common/errors.ts';
import { parseX509Facts, type X509Facts } from '../../common/x509-facts.ts';
import { codeSigningProblem } from './certificate-purpose.ts';
import { attachTimestampToken, createDetachedSignature, encodeSignature, signatureValueOf } from './cms-signature.ts';
import { assertKeyMatchesCertificate, type SigningKey } from './signing-key.ts';
import { requestTimestamp, type TsaClientOptions } from './tsa-client.ts';
import type { TimestampFacts } from './timestamp-token.ts';
import * as pkijs from 'pkijs';

/**
 * Signing one file's digest: the certificate must be a code-signing certificate, valid now, for this key; the
 * signature is made, then the TSA stamps its value and the token is embedded. A TSA that is down or answers wrongly
 * leaves the signature untimestamped, with the reason, for the caller to decide (sigil sign exits non-zero).
 */

export interface SignerMaterial {
  /** The code-signing certificate first, then its CAs (without the root). */
  readonly chainDer: readonly Uint8Array[];
  readonly key: SigningKey;
}

/** SIGNING_CERT / SIGNING_KEY when this material must not sign at `now`. */
export function assertCanSign(material: SignerMaterial, now: number): X509Facts {
  const leafDer = material.chainDer[0];
  if (!leafDer) throw new SigilError(ErrorCode.SIGNING_CERT, 'the certificate file holds no certificate: pass --cert');
  const leaf = parseX509Facts(leafDer);
  const problem = codeSigningProblem(leaf);
  if (problem) throw new SigilError(ErrorCode.SIGNING_CERT, problem);
  if (now > leaf.notAfter) {
    throw new SigilError(
      ErrorCode.SIGNING_CERT,
      `the signing certificate ${leaf.serial} expired at ${new Date(leaf.notAfter).toISOString()}: get a new one with sigil signing cert`,
    );
  }
  if (now < leaf.notBefore) {
    throw new SigilError(
      ErrorCode.SIGNING_CERT,
      `the signing certificate ${leaf.serial} is not valid before ${new Date(leaf.notBefore).toISOString()}: check this machine's clock`,
    );
  }
  assertKeyMatchesCertificate(
    material.key,
    new Uint8Array(pkijs.Certificate.fromBER(leafDer).subjectPublicKeyInfo.toSchema().toBER()),
    `signing certificate ${leaf.serial}`,
  );
  return leaf;
}

/** Stamps a signature value: an RFC 3161 TSA over HTTP (tsaTimestamper), or anything else that yields a token. */
export type Timestamper = (stamped: Uint8Array) => Promise<TimestampFacts>;

export function tsaTimestamper(options: TsaClientOptions): Timestamper {
  return (stamped) => requestTimestamp(options, stamped);
}

export interface SignDigestOptions {
  readonly now: number;
  readonly format: 'der' | 'pem';
  /** Absent: no timestamp is asked for. */
  readonly timestamper?: Timestamper;
}

export interface SignedDigest {
  readonly signature: Uint8Array;
  readonly timestamp?: TimestampFacts;
  /** Why the signature is untimestamped although a TSA was given. */
  readonly timestampError?: SigilError;
}

export async function signDigest(
  material: SignerMaterial,
  contentDigest: Uint8Array,
  options: SignDigestOptions,
): Promise<SignedDigest> {
  const data = await createDetachedSignature({
    contentDigest,
    chainDer: material.chainDer,
    key: material.key,
    signingTime: options.now,
  });
  if (!options.timestamper) return { signature: encodeSignature(data, options.format) };
  try {
    const timestamp = await options.timestamper(signatureValueOf(data));
    attachTimestampToken(data, timestamp.der);
    return { signature: encodeSignature(data, options.format), timestamp };
  } catch (err) {
    if (!isSigilError(err)) throw err;
    return { signature: encodeSignature(data, options.format), timestampError: err };
  }
}
