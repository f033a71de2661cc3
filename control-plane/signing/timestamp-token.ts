import * as asn1js from 'asn1js';
import { createHash } from 'node:crypto';
import * as pkijs from 'pkijs';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { type DigestName, decimalOid, digestOfOid, nodeDigestName, OID, oidOfDigest } from './oids.ts';
import { checkSigner, type SignerFacts } from './signer-verification.ts';

/** RFC 3161 messages as pkijs builds and parses them: requests, replies, and what a token says. */

export function digestOf(digest: DigestName, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(nodeDigestName(digest)).update(data).digest());
}

/** An INTEGER's content bytes as lowercase hex without leading zero bytes: one spelling per value. */
export function integerHex(value: asn1js.Integer): string {
  return Buffer.from(value.valueBlock.valueHexView)
    .toString('hex')
    .replace(/^(00)+(?=.)/, '');
}

/** Positive and minimally encoded: the top bit cleared, the first byte never zero. */
export function positiveInteger(bytes: Uint8Array): asn1js.Integer {
  const copy = Uint8Array.from(bytes);
  copy[0] = copy[0]! & 0x7f || 1;
  return new asn1js.Integer({ valueHex: copy });
}

export interface TimestampRequestInput {
  /** What is stamped: a SignerInfo's signature value. */
  readonly stamped: Uint8Array;
  readonly digest: DigestName;
  /** Random bytes for the nonce (8 are enough to never repeat in practice). */
  readonly nonce: Uint8Array;
  readonly policy?: string;
}

export interface TimestampRequest {
  readonly der: Uint8Array;
  /** The nonce as integerHex spells it, for matching the reply. */
  readonly nonce: string;
}

/** A TimeStampReq v1 with certReq, so the reply carries the TSA certificate that verifiers need. */
export function timestampRequest(input: TimestampRequestInput): TimestampRequest {
  const nonce = positiveInteger(input.nonce);
  const request = new pkijs.TimeStampReq({
    version: 1,
    messageImprint: new pkijs.MessageImprint({
      hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: oidOfDigest(input.digest) }),
      hashedMessage: new asn1js.OctetString({ valueHex: digestOf(input.digest, input.stamped) }),
    }),
    nonce,
    certReq: true,
    ...(input.policy !== undefined ? { reqPolicy: input.policy } : {}),
  });
  return { der: new Uint8Array(request.toSchema().toBER()), nonce: integerHex(nonce) };
}

const STATUS_NAMES = [
  'granted',
  'grantedWithMods',
  'rejection',
  'waiting',
  'revocationWarning',
  'revocationNotification',
];

/** The token of a granted reply; anything else is TSA_REPLY naming the TSA's status and reasons. */
export function tokenOfReply(der: Uint8Array): Uint8Array {
  let reply: pkijs.TimeStampResp;
  try {
    reply = pkijs.TimeStampResp.fromBER(Uint8Array.from(der));
  } catch (cause) {
    throw new SigilError(ErrorCode.TSA_REPLY, 'the TSA answered with something that is not a TimeStampResp', {
      cause,
    });
  }
  const status = reply.status.status as number;
  if ((status === 0 || status === 1) && reply.timeStampToken) {
    return new Uint8Array(reply.timeStampToken.toSchema().toBER());
  }
  const texts = (reply.status.statusStrings ?? []).map((s) => s.valueBlock.value).join('; ');
  throw new SigilError(
    ErrorCode.TSA_REPLY,
    `the TSA refused the request (${STATUS_NAMES[status] ?? `status ${status}`}${texts ? `: ${texts}` : ''})`,
    { details: { status } },
  );
}

/** What a token says and whether its own signature holds; trust in the TSA is judged elsewhere. */
export interface TimestampFacts {
  readonly genTime: number;
  /** Accuracy in ms, when the token gives one. */
  readonly accuracyMs: number | undefined;
  readonly policy: string;
  readonly serial: string;
  readonly nonce: string | undefined;
  /** The imprint's digest, when Sigil accepts it (never SHA-1). */
  readonly imprintDigest: DigestName | undefined;
  /** The imprint equals the digest of what was stamped. */
  readonly imprintMatches: boolean;
  /** The token's signer: its certificate, digest, signature and ESS checks. */
  readonly signer: SignerFacts;
  readonly der: Uint8Array;
}

function tokenFormat(message: string, cause?: unknown): SigilError {
  return new SigilError(ErrorCode.SIGNATURE_INVALID, message, { details: { check: 'timestamp-format' }, cause });
}

/** Decodes a TimeStampToken (ContentInfo DER) and checks it against what it claims to stamp. */
export async function inspectTimestampToken(der: Uint8Array, stamped: Uint8Array): Promise<TimestampFacts> {
  let data: pkijs.SignedData;
  let info: pkijs.TSTInfo;
  try {
    const content = pkijs.ContentInfo.fromBER(Uint8Array.from(der));
    if (content.contentType !== OID.signedData) throw new Error(`content type ${content.contentType}`);
    data = new pkijs.SignedData({ schema: content.content });
    if (data.encapContentInfo.eContentType !== OID.tstInfo || !data.encapContentInfo.eContent)
      throw new Error('no TSTInfo content');
    if (data.signerInfos.length !== 1) throw new Error(`${data.signerInfos.length} signers`);
    info = pkijs.TSTInfo.fromBER(data.encapContentInfo.eContent.getValue());
  } catch (cause) {
    throw tokenFormat(`the time-stamp token cannot be decoded (${(cause as Error).message})`, cause);
  }
  const eContent = new Uint8Array(data.encapContentInfo.eContent!.getValue());
  const imprintDigest = digestOfOid(info.messageImprint.hashAlgorithm.algorithmId);
  const imprintMatches =
    imprintDigest !== undefined &&
    Buffer.from(digestOf(imprintDigest, stamped)).equals(
      Buffer.from(info.messageImprint.hashedMessage.valueBlock.valueHexView),
    );
  const accuracy = info.accuracy;
  const accuracyMs = accuracy
    ? (accuracy.seconds ?? 0) * 1000 + (accuracy.millis ?? 0) + Math.ceil((accuracy.micros ?? 0) / 1000)
    : undefined;
  return Object.freeze({
    genTime: info.genTime.getTime(),
    accuracyMs,
    policy: decimalOid(info.policy),
    serial: integerHex(info.serialNumber),
    nonce: info.nonce ? integerHex(info.nonce) : undefined,
    imprintDigest,
    imprintMatches,
    signer: await checkSigner(data, async (digest) => digestOf(digest, eContent)),
    der: new Uint8Array(der),
  });
}
