import { isSigilError } from '../../../common/errors.ts';
import { validatePath } from '../../../common/path-validator.ts';
import { EKU_OIDS, parseX509Facts, type X509Facts } from '../../../common/x509-facts.ts';
import { codeSigningProblem, timeStampingProblem } from '../certificate-purpose.ts';
import type { SignerFacts } from '../signer-verification.ts';
import type { TimestampFacts } from '../timestamp-token.ts';
import { normalSerial, type RevocationEntry, revocationProblem } from './revocation-rule.ts';

/**
 * The verification of a code signature as one pure function of what was decoded from it and of the verifier's
 * policy (trust anchors, revocation data, `now`): no clock, no files. Checks run in a fixed order and the first
 * that fails decides; each has a stable name, so the CLI, the JSON output and the tests say which one failed.
 *
 * The signer's chain is judged at the timestamp's time (genTime plus accuracy: the latest moment the token proves
 * the signature existed), not now, so a signature outlives its certificate; an untimestamped signature is judged now.
 */

export const CHECKS = [
  'digest',
  'signature',
  'signing-certificate',
  'timestamp',
  'timestamp-imprint',
  'timestamp-signature',
  'timestamp-ess',
  'timestamp-eku',
  'timestamp-chain',
  'timestamp-policy',
  'timestamp-revocation',
  'eku',
  'chain',
  'signer-name',
  'revocation',
] as const;
/** `format`: the signature file itself could not be read (reported before any evidence exists). */
export type CheckName = (typeof CHECKS)[number] | 'format';

export interface CheckResult {
  readonly check: CheckName;
  readonly ok: boolean;
  readonly detail: string;
}

export interface SignatureEvidence {
  readonly signer: SignerFacts;
  /** Absent for an untimestamped signature; `error` when a token is there but cannot be decoded. */
  readonly timestamp?: TimestampFacts | { readonly error: string };
}

/** Revocation data the verifier trusts (from CRLs it checked), by normalised serial. */
export interface RevocationView {
  readonly entries: ReadonlyMap<string, RevocationEntry>;
  /** Where the data came from, for the report. */
  readonly source: string;
}

export interface VerificationPolicy {
  /** Trust anchors for the signer (DER). */
  readonly roots: readonly Uint8Array[];
  /** Trust anchors for TSAs; usually the same bundle. */
  readonly tsaRoots: readonly Uint8Array[];
  readonly now: number;
  /** Absent: revocation is not checked, and the report says so. */
  readonly revocation?: RevocationView;
  /** keyCompromise invalidates signatures made before the revocation too. */
  readonly strictKeyCompromise?: boolean;
  /** The signer's CN, or its whole subject as printed in reports. */
  readonly signerName?: string;
  /** The TSA policy OID the token must name. */
  readonly tsaPolicy?: string;
  /** Refuse untimestamped signatures outright. */
  readonly requireTimestamp?: boolean;
}

export interface Verdict {
  readonly valid: boolean;
  /** Every check that ran, in order; the last is the failure when invalid. */
  readonly checks: readonly CheckResult[];
  readonly failed?: CheckResult;
  /** What the chain and revocation were judged at: the timestamp's time, or now. */
  readonly judgedAt: number;
  readonly basis: 'timestamp' | 'now';
  readonly signer?: { readonly subject: string; readonly serial: string; readonly notAfter: number };
  readonly timestamp?: {
    readonly genTime: number;
    readonly accuracyMs: number | undefined;
    readonly policy: string;
    readonly serial: string;
    readonly tsa: string;
  };
  readonly revocationChecked: boolean;
}

class Failed extends Error {}

export function judgeSignature(evidence: SignatureEvidence, policy: VerificationPolicy): Verdict {
  const checks: CheckResult[] = [];
  const pass = (check: CheckName, detail: string) => checks.push({ check, ok: true, detail });
  const fail = (check: CheckName, detail: string): never => {
    checks.push({ check, ok: false, detail });
    throw new Failed();
  };
  const state: {
    judgedAt: number;
    basis: Verdict['basis'];
    signer?: Verdict['signer'];
    timestamp?: Verdict['timestamp'];
  } = {
    judgedAt: policy.now,
    basis: 'now',
  };
  try {
    const { signer } = evidence;
    if (!signer.signerCertificate) fail('signature', 'the certificate named by the signer is not in the signature');
    const leaf = parseX509Facts(signer.signerCertificate!);
    state.signer = { subject: leaf.subject, serial: leaf.serial, notAfter: leaf.notAfter };
    if (!signer.digest)
      fail('digest', 'the signature uses a digest Sigil does not accept (SHA-256 or stronger needed)');
    if (!signer.digestMatches) fail('digest', 'the file does not match the signature: it was changed after signing');
    pass('digest', `${signer.digest} of the file matches`);
    if (!signer.signatureValid) fail('signature', signer.signatureProblem ?? 'the signature does not verify');
    pass('signature', `signed by "${leaf.subject}"`);
    if (signer.ess.ok) pass('signing-certificate', `ESSCertID v${signer.ess.version} names the signer certificate`);
    else if (signer.ess.reason === 'absent') pass('signing-certificate', 'no ESS signing-certificate attribute');
    else fail('signing-certificate', signer.ess.reason);

    const signedBy = judgeTimestamp(evidence, policy, signer.certificates, { pass, fail }, state);
    const problem = codeSigningProblem(leaf);
    if (problem) fail('eku', problem);
    pass('eku', 'codeSigning');
    chain(leaf, signer.certificates, policy.roots, state.judgedAt, EKU_OIDS.codeSigning, 'chain', { pass, fail });
    if (policy.signerName !== undefined) {
      if (!nameMatches(leaf, policy.signerName))
        fail('signer-name', `the signer is "${leaf.subject}", not ${JSON.stringify(policy.signerName)}`);
      pass('signer-name', `signer is ${policy.signerName}`);
    }
    revocation(leaf, signedBy, policy, 'revocation', { pass, fail });
    return { valid: true, checks, ...state, revocationChecked: policy.revocation !== undefined };
  } catch (err) {
    if (!(err instanceof Failed)) throw err;
    return {
      valid: false,
      checks,
      failed: checks[checks.length - 1]!,
      ...state,
      revocationChecked: policy.revocation !== undefined,
    };
  }
}

interface Report {
  pass(check: CheckName, detail: string): void;
  fail(check: CheckName, detail: string): never;
}

/** Judges the token, when there is one, and returns the latest moment it proves (undefined: untimestamped). */
function judgeTimestamp(
  evidence: SignatureEvidence,
  policy: VerificationPolicy,
  signatureCertificates: readonly Uint8Array[],
  report: Report,
  state: { judgedAt: number; basis: Verdict['basis']; timestamp?: Verdict['timestamp'] },
): number | undefined {
  const token = evidence.timestamp;
  if (token === undefined) {
    if (policy.requireTimestamp) report.fail('timestamp', 'the signature is not timestamped');
    report.pass('timestamp', 'none: the signature is judged now, as an untimestamped one');
    return undefined;
  }
  if ('error' in token) return report.fail('timestamp', token.error);
  const { signer } = token;
  if (!signer.signerCertificate)
    return report.fail('timestamp-signature', 'the token does not carry the TSA certificate');
  const tsa = parseX509Facts(signer.signerCertificate);
  const signedBy = token.genTime + (token.accuracyMs ?? 0);
  state.timestamp = {
    genTime: token.genTime,
    accuracyMs: token.accuracyMs,
    policy: token.policy,
    serial: token.serial,
    tsa: tsa.subject,
  };
  report.pass('timestamp', `stamped ${new Date(token.genTime).toISOString()} by "${tsa.subject}"`);
  if (!token.imprintMatches)
    report.fail('timestamp-imprint', 'the token stamps something else than this signature value');
  report.pass('timestamp-imprint', `${token.imprintDigest} of the signature value`);
  if (!signer.digestMatches || !signer.signatureValid)
    report.fail('timestamp-signature', signer.signatureProblem ?? "the token's content does not match its signature");
  report.pass('timestamp-signature', 'the TSA signature verifies');
  if (!signer.ess.ok)
    report.fail(
      'timestamp-ess',
      signer.ess.reason === 'absent' ? 'the token lacks the ESS signing-certificate attribute' : signer.ess.reason,
    );
  report.pass('timestamp-ess', `ESSCertID v${signer.ess.version} names the TSA certificate`);
  const problem = timeStampingProblem(tsa);
  if (problem) report.fail('timestamp-eku', problem);
  report.pass('timestamp-eku', 'timeStamping only, critical');
  const pool = [...signer.certificates, ...signatureCertificates];
  chain(tsa, pool, policy.tsaRoots, signedBy, EKU_OIDS.timeStamping, 'timestamp-chain', report);
  if (policy.tsaPolicy !== undefined && token.policy !== policy.tsaPolicy)
    report.fail('timestamp-policy', `the token names policy ${token.policy}, not ${policy.tsaPolicy}`);
  report.pass('timestamp-policy', token.policy);
  revocation(tsa, signedBy, policy, 'timestamp-revocation', report);
  state.judgedAt = signedBy;
  state.basis = 'timestamp';
  return signedBy;
}

function chain(
  leaf: X509Facts,
  pool: readonly Uint8Array[],
  roots: readonly Uint8Array[],
  at: number,
  eku: string,
  check: 'chain' | 'timestamp-chain',
  report: Report,
): void {
  try {
    const path = validatePath({ leaf: leaf.der, intermediates: pool, roots, now: at, requiredEku: eku });
    const root = path.chain[path.chain.length - 1]!;
    report.pass(check, `chains to "${root.subject}" at ${new Date(at).toISOString()}`);
  } catch (err) {
    if (!isSigilError(err)) throw err;
    report.fail(check, `${err.message} (judged at ${new Date(at).toISOString()})`);
  }
}

function revocation(
  leaf: X509Facts,
  signedBy: number | undefined,
  policy: VerificationPolicy,
  check: 'revocation' | 'timestamp-revocation',
  report: Report,
): void {
  if (!policy.revocation) {
    report.pass(check, 'not checked: no CRL was given (--crl)');
    return;
  }
  const entry = policy.revocation.entries.get(normalSerial(leaf.serial));
  const problem = entry && revocationProblem(entry, signedBy, policy.strictKeyCompromise === true);
  if (problem) report.fail(check, `certificate ${leaf.serial} ${problem}`);
  report.pass(
    check,
    entry
      ? `revoked (${entry.reason}) only after the timestamp; the signature stands (${policy.revocation.source})`
      : `not revoked (${policy.revocation.source})`,
  );
}

function nameMatches(leaf: X509Facts, wanted: string): boolean {
  if (leaf.subject === wanted) return true;
  const cn = /(?:^|,\s*)CN=((?:[^,\\]|\\.)*)/.exec(leaf.subject)?.[1];
  return cn !== undefined && cn.replace(/\\(.)/g, '$1') === wanted;
}
