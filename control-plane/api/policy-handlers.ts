import type { ServerUnaryCall } from '@grpc/grpc-js';
import type { AdminServer, sigil } from '../../proto/index.ts';
import type { ApplyResult, PolicyService } from '../policy/policy-service.ts';
import { explainDecision } from '../policy/explain-decision.ts';
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
      return explainDecision(deps, request.from, request.to, request.port);
    }),
  };
}
