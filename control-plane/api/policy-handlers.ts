import type { ServerUnaryCall } from '@grpc/grpc-js';
import type { AdminServer, sigil } from '../../proto/index.ts';
import type { ApplyResult, PolicyService } from '../policy/policy-service.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { parseSpiffeId } from '../../common/spiffe-id.ts';
import { unary, type UnaryEdgeDeps } from './unary.ts';

export interface PolicyHandlerDeps extends UnaryEdgeDeps {
  readonly policies: PolicyService;
  /** Checks the caller is an admin (throws otherwise). */
  readonly guard: (call: ServerUnaryCall<unknown, unknown>) => Promise<void>;
  /** SPIFFE IDs with an active SVID: the traffic identities a dry run evaluates. */
  readonly knownIdentities: () => Promise<string[]>;
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

function applyResponse(r: ApplyResult): sigil.v1.IApplyPoliciesResponse {
  return {
    version: r.version,
    applied: r.applied,
    created: r.created,
    updated: r.updated,
    deleted: r.deleted,
    unchanged: r.unchanged,
    findings: r.findings.map((f) => ({
      severity: f.severity,
      path: f.path,
      line: f.line ?? 0,
      message: f.message,
      document: String(f.document),
    })),
    changes: r.changes,
  };
}

/** Admin RPCs of allow-policies; validation findings come back in the response, not as an error status. */
export function policyHandlers(
  deps: PolicyHandlerDeps,
): Pick<AdminServer, 'applyPolicies' | 'listPolicies' | 'deletePolicy' | 'explainPolicy'> {
  return {
    applyPolicies: unary('ApplyPolicies', deps, async (request: sigil.v1.ApplyPoliciesRequest, call) => {
      await deps.guard(call);
      const result = await deps.policies.apply(request.yaml, {
        source: request.source || 'policy.yaml',
        dryRun: request.dryRun,
        knownIdentities: deps.knownIdentities,
      });
      return applyResponse(result);
    }),
    listPolicies: unary('ListPolicies', deps, async (_request: sigil.v1.ListPoliciesRequest, call) => {
      await deps.guard(call);
      return deps.policies.wire;
    }),
    deletePolicy: unary('DeletePolicy', deps, async (request: sigil.v1.DeletePolicyRequest, call) => {
      await deps.guard(call);
      return applyResponse(
        await deps.policies.delete(request.name, { dryRun: false, knownIdentities: deps.knownIdentities }),
      );
    }),
    explainPolicy: unary('ExplainPolicy', deps, async (request: sigil.v1.ExplainPolicyRequest, call) => {
      await deps.guard(call);
      const from = explainedId(request.from, '--from');
      const to = explainedId(request.to, '--to');
      const d = deps.policies.explain(from, to, request.port || undefined);
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
    }),
  };
}
