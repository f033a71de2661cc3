import { type JwtBundleKey, jwtKeysOfBundle } from '../../common/jwt-bundle.ts';
import type { Logger } from '../../common/logger.ts';

/**
 * The JWT-SVID keys of the sidecar's trust domain, read from the SPIFFE bundle the control plane sends with every
 * trust state. Full state with the bundle sequence: an older sequence never replaces a newer one; at the same
 * sequence a different key set is taken (a control plane that created its first JWT key without a new bundle).
 * A malformed bundle is logged and ignored: the keys in force stay.
 */
export class JwtBundleState {
  readonly #logger: Logger;
  readonly #listeners = new Set<(keys: readonly JwtBundleKey[]) => void>();
  #keys: readonly JwtBundleKey[] = [];
  #sequence = -1;
  #fingerprint = '';

  constructor(deps: { logger: Logger }) {
    this.#logger = deps.logger;
  }

  get keys(): readonly JwtBundleKey[] {
    return this.#keys;
  }

  /** The JWT bundle as the Workload API serves it: a JWK set of the `jwt-svid` keys. */
  document(): Uint8Array {
    return Buffer.from(JSON.stringify({ keys: this.#keys }));
  }

  offer(spiffeBundle: Uint8Array | undefined, sequence: number): boolean {
    if (spiffeBundle === undefined || spiffeBundle.length === 0 || sequence < this.#sequence) return false;
    let keys: JwtBundleKey[];
    try {
      keys = jwtKeysOfBundle(spiffeBundle);
    } catch (err) {
      this.#logger.warn({ error: err instanceof Error ? err.message : String(err) }, 'SPIFFE bundle ignored');
      return false;
    }
    const fingerprint = JSON.stringify(keys);
    this.#sequence = sequence;
    if (fingerprint === this.#fingerprint) return false;
    this.#keys = Object.freeze(keys);
    this.#fingerprint = fingerprint;
    for (const listener of this.#listeners) listener(this.#keys);
    return true;
  }

  onChange(listener: (keys: readonly JwtBundleKey[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
