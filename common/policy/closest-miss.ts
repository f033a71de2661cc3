import { portsText, type CompiledPolicy } from './compiled-policy.ts';
import { matchedPrefix, splitId } from './spiffe-pattern.ts';

/** The rule (or, with no policy for the destination, the policy) that came nearest to allowing a denied call. */
export interface ClosestMiss {
  readonly policy: string;
  readonly rule?: number;
  readonly reason: string;
}

export interface ClosestQuery {
  /** Policies naming the destination, in precedence order; empty when the default action decided. */
  readonly candidates: readonly CompiledPolicy[];
  readonly all: readonly CompiledPolicy[];
  readonly peer: string;
  readonly destination: string;
  readonly port: number | undefined;
}

/** A full caller match that failed only on the port outranks any partial match of the caller ID. */
const PORT_ONLY_MISS = Number.MAX_SAFE_INTEGER;

/**
 * Ranks near misses for `explain`: only for denials, so it may scan every rule. Ties go to the earlier policy and
 * rule, matching the order decisions are made in.
 */
export function closestMiss(q: ClosestQuery): ClosestMiss | undefined {
  const peer = splitId(q.peer);
  if (q.candidates.length === 0) return closestDestination(q);
  if (!peer) return undefined;
  let best: { score: number; miss: ClosestMiss } | undefined;
  for (const p of q.candidates) {
    for (const r of p.rules) {
      const prefix = matchedPrefix(r.from.segments, peer);
      const score = prefix === Infinity ? PORT_ONLY_MISS : prefix;
      if (best && score <= best.score) continue;
      const where = `policy "${p.policy.name}" allow[${r.index}]`;
      const reason =
        prefix === Infinity
          ? `${where} matches the caller (from ${r.rule.from}) but allows only ${portsText(r.rule.ports)}${q.port === undefined ? '; no port was given' : `, not ${q.port}`}`
          : `${where} (from ${r.rule.from}) ${sharedText(peer, prefix, r.from.segments.length)}`;
      best = { score, miss: { policy: p.policy.name, rule: r.index, reason } };
    }
  }
  return best?.miss;
}

function closestDestination(q: ClosestQuery): ClosestMiss | undefined {
  const destination = splitId(q.destination);
  if (!destination) return undefined;
  let best: { score: number; p: CompiledPolicy } | undefined;
  for (const p of q.all) {
    const score = matchedPrefix(p.destination.segments, destination);
    if (score > (best?.score ?? 1)) best = { score, p };
  }
  if (!best) return undefined;
  return {
    policy: best.p.policy.name,
    reason: `the nearest policy is "${best.p.policy.name}" for destination ${best.p.policy.destination}, which ${sharedText(destination, best.score, best.p.destination.segments.length).replaceAll('caller', 'destination')}`,
  };
}

function sharedText(id: readonly string[], prefix: number, patternLength: number): string {
  if (prefix === 0) return 'is in another trust domain than the caller';
  if (prefix === 1) return 'shares only the trust domain with the caller';
  const shared = `spiffe://${id.slice(0, prefix).join('/')}`;
  const next = id[prefix];
  if (next === undefined) return `expects more segments after ${shared}`;
  if (prefix === patternLength)
    return `matches up to ${shared} but the caller goes on with "${next}" ("*" is exactly one segment, "**" the rest)`;
  return `shares ${shared} with the caller but differs at "${next}"`;
}
