import type { Clock } from '../../common/clock.ts';
import { LogField, type Logger } from '../../common/logger.ts';
import {
  compilePolicySet,
  fromWirePolicySet,
  type CompiledPolicySet,
  type Decision,
} from '../../common/policy/index.ts';
import type { sigil } from '../../proto/index.ts';
import type { AuthorizationResult, PeerInfo } from '../proxy/peer-info.ts';
import { RateLimiter } from '../proxy/rate-limiter.ts';

export interface PolicyEnforcerDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Every decision, for `sigil_policy_decisions_total{decision,policy}`. */
  readonly onDecision?: (decision: Decision) => void;
}

const CACHE_LIMIT = 4096;

/**
 * Inbound allow-policy enforcement: destination = this sidecar's own SPIFFE ID, port = the inbound listener's.
 * The compiled set is replaced as a whole when a newer version arrives; decisions are cached per (peer, port) for
 * the version in force. Until a policy set has been received, every peer is denied (default deny).
 */
export class PolicyEnforcer {
  readonly #ownId: string;
  readonly #trustDomain: string;
  readonly #deps: PolicyEnforcerDeps;
  readonly #denyLogs: RateLimiter;
  readonly #listeners = new Set<(compiled: CompiledPolicySet) => void>();
  #compiled: CompiledPolicySet | undefined;
  #cache = new Map<string, Decision>();

  constructor(options: { ownId: string; trustDomain: string }, deps: PolicyEnforcerDeps) {
    this.#ownId = options.ownId;
    this.#trustDomain = options.trustDomain;
    this.#deps = deps;
    this.#denyLogs = new RateLimiter({ clock: deps.clock, limit: 5, windowMs: 1000 });
  }

  get version(): number | undefined {
    return this.#compiled?.version;
  }

  /** Applies a policy set from the control plane if it is newer; a set that fails validation is refused (logged). */
  replace(wire: sigil.v1.IPolicySet | undefined, source: string): boolean {
    if (!wire) return false;
    const version = Number(wire.version ?? 0);
    if (this.#compiled && version <= this.#compiled.version) return false;
    let compiled: CompiledPolicySet;
    try {
      compiled = compilePolicySet(fromWirePolicySet(wire, this.#trustDomain));
    } catch (err) {
      this.#deps.logger.error(
        { err, policy_version: version, source },
        'refused a policy set from the control plane; the previous one stays in force',
      );
      return false;
    }
    this.#compiled = compiled;
    this.#cache = new Map();
    this.#deps.logger.info({ policy_version: version, source }, 'allow-policies updated');
    for (const listener of this.#listeners) listener(compiled);
    return true;
  }

  /** The decision for a peer on an inbound port, cached per version. */
  decide(peerId: string, port: number): Decision {
    const compiled = this.#compiled;
    if (!compiled)
      return { decision: 'deny', explanation: 'no allow-policies received from the control plane yet (default deny)' };
    const key = `${port}|${peerId}`;
    let decision = this.#cache.get(key);
    if (!decision) {
      decision = compiled.decide(peerId, this.#ownId, port);
      if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
      this.#cache.set(key, decision);
    }
    return decision;
  }

  /** The authorizePeer hook for inbound connections. Audit-mode denials are logged and let through. */
  authorize(peer: PeerInfo): AuthorizationResult {
    const decision = this.decide(peer.identity.spiffeId, peer.localPort);
    this.#deps.onDecision?.(decision);
    if (decision.decision === 'allow') return { allowed: true };
    const limit = this.#denyLogs.take(decision.decision);
    if (limit.allowed) {
      this.#deps.logger.warn(
        {
          [LogField.peer]: peer.identity.spiffeId,
          port: peer.localPort,
          decision: decision.decision,
          policy: decision.policy,
          explanation: decision.explanation,
          suppressed: limit.suppressed,
        },
        decision.decision === 'audit-deny'
          ? 'policy would deny this connection (audit mode: let through)'
          : 'connection denied by allow-policy',
      );
    }
    return decision.decision === 'audit-deny'
      ? { allowed: true }
      : { allowed: false, reason: `policy: ${decision.explanation}` };
  }

  /** Called with each new compiled set, so live connections it would deny can be closed. */
  onChange(listener: (compiled: CompiledPolicySet) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
