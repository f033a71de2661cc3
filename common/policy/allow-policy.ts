/** The policy model shared by the control plane (validate, store, publish) and sidecars (enforce). */

export type PolicyMode = 'enforce' | 'audit';
export type DefaultAction = 'deny' | 'allow';

export interface AllowRule {
  /** An exact SPIFFE ID or a pattern (`*` = one whole segment, `**` = one or more trailing segments). */
  from: string;
  /** Absent: any port. */
  ports?: number[];
}

export interface AllowPolicy {
  name: string;
  /** An exact SPIFFE ID or a pattern, like `from`. */
  destination: string;
  mode: PolicyMode;
  allow: AllowRule[];
}

/** A whole policy set as it is versioned, stored and published. */
export interface PolicySetInput {
  version: number;
  policies: AllowPolicy[];
  defaultAction: DefaultAction;
}

export interface PolicyFinding {
  severity: 'error' | 'warning';
  /** 1-based position of the document in the YAML stream (or of the policy in a wire set); 0 = the set as a whole. */
  document: number;
  path: string;
  line: number | null;
  message: string;
}

export type DecisionOutcome = 'allow' | 'deny' | 'audit-deny';

export interface Decision {
  /** `audit-deny`: no rule allows, but every policy naming the destination is in audit mode, so it is let through. */
  decision: DecisionOutcome;
  /** The policy that allowed, or the one whose mode decided the denial. */
  policy?: string;
  /** Index into that policy's `allow` list of the rule that allowed. */
  rule?: number;
  explanation: string;
}

export const POLICY_API_VERSION = 'sigil.dev/v1';
export const POLICY_KIND = 'AllowPolicy';
