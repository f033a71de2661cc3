import type { AllowPolicy, Decision, DefaultAction, PolicySetInput } from './allow-policy.ts';
import { closestMiss, type ClosestMiss } from './closest-miss.ts';
import { allowingRule, compilePolicy, type CompiledPolicy, type CompiledRule } from './compiled-policy.ts';
import { SegmentTrie } from './segment-trie.ts';
import { splitId } from './spiffe-pattern.ts';

export type Explained = Decision & { closest?: ClosestMiss };

/** A policy set compiled once per version; decisions are pure functions of (peer, destination, port). */
export interface CompiledPolicySet {
  readonly version: number;
  readonly defaultAction: DefaultAction;
  readonly policies: readonly AllowPolicy[];
  /**
   * Any allowing rule of any policy naming the destination allows. If none does, the destination is denied when at
   * least one enforce-mode policy names it, and audit-denied (let through, logged) when all of them are audit-mode:
   * adding an audit policy never weakens an enforced destination. No policy naming it: `defaultAction`.
   * For exact IDs the cost does not grow with the number of policies.
   */
  decide(peer: string, destination: string, port: number | undefined): Decision;
  /** decide, plus for denials the rule that came closest to allowing, named in the explanation. */
  explain(peer: string, destination: string, port: number | undefined): Explained;
  /** The policies naming a destination, enforce-mode first. */
  policiesFor(destination: string): AllowPolicy[];
}

/** Compiles a set; throws CONFIG_INVALID if a destination or caller is not a valid ID or pattern. */
export function compilePolicySet(input: PolicySetInput): CompiledPolicySet {
  const exact = new Map<string, CompiledPolicy[]>();
  const patterns = new SegmentTrie<CompiledPolicy>();
  const all = input.policies.map((policy, order) => compilePolicy(policy, order));
  for (const p of all) {
    if (!p.destination.exact) patterns.insert(p.destination.segments, p);
    else {
      const list = exact.get(p.policy.destination) ?? [];
      list.push(p);
      exact.set(p.policy.destination, list);
    }
  }
  for (const list of exact.values()) list.sort(byPrecedence);
  const candidates = (destination: string): CompiledPolicy[] => {
    const listed = exact.get(destination) ?? [];
    if (patterns.size === 0) return listed;
    const segments = splitId(destination);
    if (!segments) return listed;
    const matched = patterns.match(segments, []);
    return matched.length === 0 ? listed : [...listed, ...matched].sort(byPrecedence);
  };
  const decide = (peer: string, destination: string, port: number | undefined): Decision => {
    const found = candidates(destination);
    if (found.length === 0) return defaultDecision(input.defaultAction, destination);
    return decideAmong(found, peer, port);
  };
  return Object.freeze({
    version: input.version,
    defaultAction: input.defaultAction,
    policies: Object.freeze([...input.policies]),
    decide,
    explain: (peer: string, destination: string, port: number | undefined): Explained => {
      const found = candidates(destination);
      const decision =
        found.length === 0 ? defaultDecision(input.defaultAction, destination) : decideAmong(found, peer, port);
      if (decision.decision === 'allow') return decision;
      const closest = closestMiss({ candidates: found, all, peer, destination, port });
      return closest
        ? { ...decision, explanation: `${decision.explanation}; closest: ${closest.reason}`, closest }
        : decision;
    },
    policiesFor: (destination: string) => candidates(destination).map((p) => p.policy),
  });
}

function byPrecedence(a: CompiledPolicy, b: CompiledPolicy): number {
  return Number(b.enforce) - Number(a.enforce) || a.order - b.order;
}

function decideAmong(found: readonly CompiledPolicy[], peer: string, port: number | undefined): Decision {
  let split: string[] | null | undefined;
  const peerSegments = () => (split === undefined ? (split = splitId(peer)) : split);
  for (const p of found) {
    const rule = allowingRule(p, peer, peerSegments, port);
    if (rule !== undefined) {
      return {
        decision: 'allow',
        policy: p.policy.name,
        rule,
        explanation: (p.rules[rule] as CompiledRule).allowedText,
      };
    }
  }
  const names = found.map((p) => `"${p.policy.name}" (${p.policy.mode})`).join(', ');
  const what = `no rule of ${found.length === 1 ? 'policy' : 'policies'} ${names} allows ${peer} ${port === undefined ? 'without a port' : `on port ${port}`}`;
  const first = found[0] as CompiledPolicy;
  // `found` is enforce-first, so the first policy decides between deny and audit-deny.
  if (first.enforce)
    return {
      decision: 'deny',
      policy: first.policy.name,
      explanation: `${what}; denied by enforce-mode policy "${first.policy.name}"`,
    };
  return {
    decision: 'audit-deny',
    policy: first.policy.name,
    explanation: `${what}; audit mode: let through and logged`,
  };
}

function defaultDecision(action: DefaultAction, destination: string): Decision {
  if (action === 'allow') return { decision: 'allow', explanation: 'no policy for destination; defaultAction allow' };
  return { decision: 'deny', explanation: `no policy for destination ${destination}; defaultAction deny` };
}
