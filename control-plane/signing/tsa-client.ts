import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { parseX509Facts } from '../../common/x509-facts.ts';
import { timeStampingProblem } from './certificate-purpose.ts';
import { type HttpBytesResponse, httpBytes } from './http-bytes.ts';
import { TIMESTAMP_QUERY, TIMESTAMP_REPLY } from './tsa/tsa-http-server.ts';
import { inspectTimestampToken, type TimestampFacts, timestampRequest, tokenOfReply } from './timestamp-token.ts';

/**
 * Asks an RFC 3161 TSA (Sigil's or any other, by URL) to stamp bytes, and accepts the token only when it answers
 * this request: granted, same nonce, imprint of what was sent, requested policy, a token signature that verifies
 * with a certificate whose only EKU is a critical timeStamping, and an ESS signing-certificate naming it. Whether the
 * TSA is trusted is for the verifier to judge against its bundle. A TSA that cannot be reached is TSA_UNAVAILABLE;
 * a reply that fails a check is TSA_REPLY naming the check.
 */

export interface TsaClientOptions {
  readonly url: string;
  /** Default 10 s for the whole exchange. */
  readonly timeoutMs?: number;
  /** Ask for this policy OID (the TSA's default otherwise). */
  readonly policy?: string;
  readonly randomBytes?: (size: number) => Uint8Array;
}

function replyProblem(check: string, message: string): SigilError {
  return new SigilError(ErrorCode.TSA_REPLY, message, { details: { check } });
}

export function parseTsaUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `--tsa ${JSON.stringify(text)} is not a URL: use http(s)://host:port/`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new SigilError(ErrorCode.INVALID_ARGUMENT, `--tsa ${text}: only http and https TSAs are supported`);
  return url;
}

async function post(url: URL, body: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
  let res: HttpBytesResponse;
  try {
    res = await httpBytes(url, {
      method: 'POST',
      headers: { 'content-type': TIMESTAMP_QUERY, accept: TIMESTAMP_REPLY },
      body,
      timeoutMs,
    });
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new SigilError(ErrorCode.TSA_UNAVAILABLE, `the TSA at ${url.href} is unreachable (${why})`, { cause: err });
  }
  if (res.status !== 200) {
    throw new SigilError(ErrorCode.TSA_UNAVAILABLE, `the TSA at ${url.href} answered HTTP ${res.status}`);
  }
  if (res.contentType !== TIMESTAMP_REPLY) {
    throw replyProblem(
      'timestamp-format',
      `the TSA at ${url.href} answered ${res.contentType || 'no content type'}, not ${TIMESTAMP_REPLY}`,
    );
  }
  return res.body;
}

export async function requestTimestamp(options: TsaClientOptions, stamped: Uint8Array): Promise<TimestampFacts> {
  const url = parseTsaUrl(options.url);
  const random = options.randomBytes ?? ((n: number) => new Uint8Array(nodeRandomBytes(n)));
  const request = timestampRequest({
    stamped,
    digest: 'SHA-256',
    nonce: random(8),
    ...(options.policy !== undefined ? { policy: options.policy } : {}),
  });
  const reply = await post(url, request.der, options.timeoutMs ?? 10_000);
  const token = await inspectTimestampToken(tokenOfReply(reply), stamped);
  if (token.nonce !== request.nonce)
    throw replyProblem('timestamp-nonce', 'the token does not echo the nonce of this request');
  if (!token.imprintMatches)
    throw replyProblem('timestamp-imprint', 'the token stamps another message than the one sent');
  if (options.policy !== undefined && token.policy !== options.policy)
    throw replyProblem(
      'timestamp-policy',
      `the token names policy ${token.policy}, not the requested ${options.policy}`,
    );
  const { signer } = token;
  if (!signer.signerCertificate)
    throw replyProblem('timestamp-signature', 'the token does not carry the TSA certificate although it was requested');
  if (!signer.digestMatches || !signer.signatureValid)
    throw replyProblem(
      'timestamp-signature',
      `the token's signature is invalid: ${signer.signatureProblem ?? 'its content digest differs'}`,
    );
  const problem = timeStampingProblem(parseX509Facts(signer.signerCertificate));
  if (problem) throw replyProblem('timestamp-eku', problem);
  if (!signer.ess.ok)
    throw replyProblem('timestamp-ess', `the token's ESS signing-certificate check failed: ${signer.ess.reason}`);
  return token;
}
