import type { Decision } from './allow-policy.ts';
import type { CompiledPolicySet } from './compiled-policy-set.ts';

export interface TrafficPair {
  from: string;
  to: string;
  port?: number;
}

export interface DecisionChange extends TrafficPair {
  before: Decision;
  after: Decision;
}

/** The pairs whose outcome (allow / deny / audit-deny) differs between two versions, for `apply --dry-run`. */
export function diffDecisions(
  before: CompiledPolicySet,
  after: CompiledPolicySet,
  pairs: readonly TrafficPair[],
): DecisionChange[] {
  const changes: DecisionChange[] = [];
  for (const pair of pairs) {
    const b = before.decide(pair.from, pair.to, pair.port);
    const a = after.decide(pair.from, pair.to, pair.port);
    if (a.decision !== b.decision) changes.push({ ...pair, before: b, after: a });
  }
  return changes;
}
