import { createHash } from 'node:crypto';
import type { PeerIdentity, VerifyPeer } from './peer-info.ts';

export interface PeerIdentityCacheOptions {
  readonly verifyPeer: VerifyPeer;
  /** Certificates remembered; the least recently used one is forgotten past this. */
  readonly maxEntries?: number;
}

/**
 * Parses and validates each peer certificate once: the SVID checks run on the first handshake that presents
 * a certificate, later handshakes with the same certificate hit the cache. Keyed by the SHA-256 of the DER, so
 * a different certificate for the same SPIFFE ID is validated afresh. Only successes are cached: a refused
 * certificate is re-checked (and refused) each time, which keeps a flood of bad certificates from evicting good
 * entries any faster than the handshakes themselves allow.
 */
export class PeerIdentityCache {
  readonly #verifyPeer: VerifyPeer;
  readonly #maxEntries: number;
  readonly #entries = new Map<string, PeerIdentity>();

  constructor(options: PeerIdentityCacheOptions) {
    this.#verifyPeer = options.verifyPeer;
    this.#maxEntries = Math.max(1, options.maxEntries ?? 1024);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Returns the identity of the certificate, or throws what `verifyPeer` threw. */
  identify(rawDer: Buffer): PeerIdentity {
    const key = createHash('sha256').update(rawDer).digest('base64');
    const hit = this.#entries.get(key);
    if (hit) {
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit;
    }
    const identity = this.#verifyPeer(rawDer);
    this.#entries.set(key, identity);
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    return identity;
  }

  /** Forgets everything, e.g. when the trust bundle changes and earlier verdicts may no longer hold. */
  clear(): void {
    this.#entries.clear();
  }
}
