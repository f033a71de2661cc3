import type * as pkijs from 'pkijs';
import { isSigilError } from '../../../common/errors.ts';
import { decodeSignature, signatureValueOf, timestampTokenOf } from '../cms-signature.ts';
import type { DigestName } from '../oids.ts';
import { checkSigner } from '../signer-verification.ts';
import { inspectTimestampToken } from '../timestamp-token.ts';
import { type CrlInput, revocationsFromCrls } from './crl-revocations.ts';
import {
  type CheckResult,
  judgeSignature,
  type SignatureEvidence,
  type Verdict,
  type VerificationPolicy,
} from './verification-rules.ts';

/**
 * Verifies one detached signature: decodes it, gathers the evidence (digests, signatures, the token), checks the
 * CRLs given, and hands everything to the pure rules. Never throws for a bad signature: the verdict says which check
 * failed.
 */

export interface VerifyArtifactInput {
  /** The .p7s bytes (DER or PEM). */
  readonly signature: Uint8Array;
  /** The signed file's digest with the algorithm the signature names. */
  readonly contentDigest: (digest: DigestName) => Promise<Uint8Array>;
  readonly policy: Omit<VerificationPolicy, 'revocation'>;
  readonly crls?: readonly CrlInput[];
  /** CA certificates that may have signed the CRLs, besides those in the signature. */
  readonly crlIssuers?: readonly Uint8Array[];
}

export async function collectEvidence(
  data: pkijs.SignedData,
  contentDigest: (digest: DigestName) => Promise<Uint8Array>,
): Promise<SignatureEvidence> {
  const signer = await checkSigner(data, contentDigest);
  const token = timestampTokenOf(data);
  if (!token) return { signer };
  try {
    return { signer, timestamp: await inspectTimestampToken(token, signatureValueOf(data)) };
  } catch (err) {
    if (!isSigilError(err)) throw err;
    return { signer, timestamp: { error: err.message } };
  }
}

function failedBefore(check: CheckResult, now: number): Verdict {
  return { valid: false, checks: [check], failed: check, judgedAt: now, basis: 'now', revocationChecked: false };
}

export async function verifyArtifact(input: VerifyArtifactInput): Promise<Verdict> {
  const { policy } = input;
  let data: pkijs.SignedData;
  try {
    data = decodeSignature(input.signature);
  } catch (err) {
    if (!isSigilError(err)) throw err;
    return failedBefore({ check: 'format', ok: false, detail: err.message }, policy.now);
  }
  const evidence = await collectEvidence(data, input.contentDigest);
  if (!input.crls || input.crls.length === 0) return judgeSignature(evidence, policy);
  const candidates = [
    ...evidence.signer.certificates,
    ...(evidence.timestamp && 'signer' in evidence.timestamp ? evidence.timestamp.signer.certificates : []),
    ...(input.crlIssuers ?? []),
  ];
  try {
    const revocation = await revocationsFromCrls(
      input.crls,
      candidates,
      [...policy.roots, ...policy.tsaRoots],
      policy.now,
    );
    return judgeSignature(evidence, { ...policy, revocation });
  } catch (err) {
    if (!isSigilError(err)) throw err;
    const verdict = judgeSignature(evidence, policy);
    if (!verdict.valid) return verdict;
    const failed: CheckResult = { check: 'revocation', ok: false, detail: err.message };
    return {
      ...verdict,
      valid: false,
      checks: [...verdict.checks.filter((c) => c.check !== 'revocation' && c.check !== 'timestamp-revocation'), failed],
      failed,
    };
  }
}
