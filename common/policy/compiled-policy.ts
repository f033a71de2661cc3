import { ErrorCode, SigilError } from '../errors.ts';
import type { AllowPolicy, AllowRule } from './allow-policy.ts';
import { SegmentTrie } from './segment-trie.ts';
import { parseOwnDomainPattern, type IdPattern } from './spiffe-pattern.ts';

export interface CompiledRule {
  readonly index: number;
  readonly rule: AllowRule;
  readonly from: IdPattern;
  readonly ports: ReadonlySet<number> | undefined;
  /** Built once: decisions that allow are made on every connection. */
  readonly allowedText: string;
}

export interface CompiledPolicy {
  /** Position in the set; with `enforce`, the order in which policies are consulted. */
  readonly order: number;
  readonly policy: AllowPolicy;
  readonly enforce: boolean;
  readonly destination: IdPattern;
  readonly rules: readonly CompiledRule[];
  /** Exact caller ID → indexes of the rules naming it, ascending. */
  readonly fromExact: ReadonlyMap<string, readonly number[]>;
  readonly fromPatterns: SegmentTrie<number>;
}

export function compilePolicy(policy: AllowPolicy, order: number): CompiledPolicy {
  const fromExact = new Map<string, number[]>();
  const fromPatterns = new SegmentTrie<number>();
  const rules = policy.allow.map((rule, index): CompiledRule => {
    const from = pattern(rule.from, policy.name);
    if (from.exact) fromExact.set(rule.from, [...(fromExact.get(rule.from) ?? []), index]);
    else fromPatterns.insert(from.segments, index);
    const allowedText = `allowed by policy "${policy.name}" allow[${index}] (from ${rule.from}, ${portsText(rule.ports)})`;
    return {
      index,
      rule,
      from,
      ports: rule.ports && rule.ports.length > 0 ? new Set(rule.ports) : undefined,
      allowedText,
    };
  });
  return {
    order,
    policy,
    enforce: policy.mode !== 'audit',
    destination: pattern(policy.destination, policy.name),
    rules,
    fromExact,
    fromPatterns,
  };
}

function pattern(text: string, policy: string): IdPattern {
  const result = parseOwnDomainPattern(text);
  if (!result.ok)
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      `policy ${JSON.stringify(policy)}: invalid SPIFFE ID or pattern ${result.message}; validate the set before compiling it`,
    );
  return result.pattern;
}

const NONE: readonly number[] = [];

/** The lowest-numbered rule of `p` that allows (peer, port), or undefined. The peer is split only if patterns need it. */
export function allowingRule(
  p: CompiledPolicy,
  peer: string,
  peerSegments: () => readonly string[] | null,
  port: number | undefined,
): number | undefined {
  let best: number | undefined;
  for (const i of p.fromExact.get(peer) ?? NONE) {
    if (portAllowed(p.rules[i], port)) {
      best = i;
      break;
    }
  }
  if (best === 0 || p.fromPatterns.size === 0) return best;
  const segments = peerSegments();
  if (!segments) return best;
  for (const i of p.fromPatterns.match(segments, [])) {
    if ((best === undefined || i < best) && portAllowed(p.rules[i], port)) best = i;
  }
  return best;
}

export function portAllowed(rule: CompiledRule | undefined, port: number | undefined): boolean {
  if (!rule) return false;
  return rule.ports === undefined || (port !== undefined && rule.ports.has(port));
}

export function portsText(ports: readonly number[] | undefined): string {
  return ports === undefined || ports.length === 0
    ? 'any port'
    : `port${ports.length === 1 ? '' : 's'} ${ports.join(', ')}`;
}
