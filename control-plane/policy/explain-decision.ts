import { ErrorCode, SigilError } from '../../common/errors.ts';
import { parseSpiffeId } from '../../common/spiffe-id.ts';
import type { PolicyService } from './policy-service.ts';

export interface ExplainedDecision {
  readonly decision: string;
  /** '' when no policy decided. */
  readonly policy: string;
  /** -1 when no rule decided. */
  readonly rule: number;
  readonly explanation: string;
  readonly policyVersion: number;
}

export interface ExplainDeps {
  readonly policies: Pick<PolicyService, 'explain'>;
  /** The revocation of a whole identity, if any: explain must not call ALLOW what every sidecar refuses. */
  readonly revokedIdentity?: (spiffeId: string) => Promise<{ readonly reason: string } | undefined>;
}

function explainedId(text: string, flag: string): string {
  try {
    return parseSpiffeId(text).uri;
  } catch (err) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `${flag} ${JSON.stringify(text)} is not a SPIFFE ID (${(err as Error).message}); give one like spiffe://example.org/ns/prod/sa/web`,
    );
  }
}

/**
 * Why a call from `from` to `to` (port 0: any) would be allowed or denied: the one answer behind
 * `sigil policy explain` (the Admin API) and the dashboard's explain form.
 */
export async function explainDecision(
  deps: ExplainDeps,
  fromText: string,
  toText: string,
  port: number,
): Promise<ExplainedDecision> {
  const from = explainedId(fromText, '--from');
  const to = explainedId(toText, '--to');
  const d = deps.policies.explain(from, to, port || undefined);
  // Revocation comes before policy on every sidecar (inbound and outbound), so it does here too.
  for (const [id, role] of [
    [from, 'caller'],
    [to, 'destination'],
  ] as const) {
    const revoked = await deps.revokedIdentity?.(id);
    if (revoked)
      return {
        decision: 'deny',
        policy: '',
        rule: -1,
        explanation: `the ${role} ${id} is revoked (${revoked.reason}): every sidecar refuses it whatever the policies say; sigil unrevoke --spiffe-id ${id} lifts that (policy alone: ${d.decision.toUpperCase()}${d.policy ? ` by policy ${d.policy}` : ''})`,
        policyVersion: d.version,
      };
  }
  return {
    decision: d.decision,
    policy: d.policy ?? '',
    rule: d.rule ?? -1,
    explanation: d.explanation,
    policyVersion: d.version,
  };
}
