import type { Clock } from '../../common/clock.ts';
import { TrustBundle } from '../../common/trust-bundle.ts';
import type { Logger } from '../../common/logger.ts';

export type TrustSource = 'issuance' | 'grpc' | 'nats';

export type TrustListener = (bundle: TrustBundle) => void;

/**
 * The sidecar's view of its trust domain's bundle, fed by every path that carries it (issuance responses, the
 * periodic gRPC FetchTrust, NATS events). Full state with a sequence: a bundle is applied only when its sequence
 * is newer, so re-delivery, reordering and loss are all harmless, and no path can roll trust back.
 */
export class TrustState {
  readonly #trustDomain: string;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #listeners = new Set<TrustListener>();
  #bundle: TrustBundle | undefined;
  #refreshedAt: number | undefined;

  constructor(options: { trustDomain: string }, deps: { clock: Clock; logger: Logger }) {
    this.#trustDomain = options.trustDomain;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
  }

  get bundle(): TrustBundle | undefined {
    return this.#bundle;
  }

  /** When any source last confirmed the state (applied or already current); undefined before the first. */
  get refreshedAt(): number | undefined {
    return this.#refreshedAt;
  }

  /** Applies a bundle if it is newer; returns true when it changed. Throws BUNDLE_INVALID for a malformed one. */
  offer(roots: readonly Uint8Array[], sequence: number, source: TrustSource): boolean {
    this.#refreshedAt = this.#clock.now();
    if (this.#bundle && sequence <= this.#bundle.sequence) return false;
    const next = new TrustBundle({ trustDomain: this.#trustDomain, roots, sequence });
    const previous = this.#bundle;
    this.#bundle = next;
    if (previous?.hasSameRoots(next)) return false;
    this.#logger.info({ bundle_sequence: sequence, roots: next.roots.length, source }, 'trust bundle updated');
    for (const listener of this.#listeners) listener(next);
    return true;
  }

  /** Calls `listener` on every change of roots (not on sequence-only changes). */
  onChange(listener: TrustListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
