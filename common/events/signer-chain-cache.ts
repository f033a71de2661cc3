import { createHash, type KeyObject } from 'node:crypto';

/** What a validated signer chain yields: enough to verify signatures without validating the chain again. */
export interface ValidatedSigner {
  readonly publicKey: KeyObject;
  /** node:crypto digest name that fits the key: sha256 for P-256 and RSA, sha384 for P-384. */
  readonly hash: 'sha256' | 'sha384';
  readonly spiffeId: string;
  readonly serial: string;
  /** The path is valid from max(notBefore) to min(notAfter) over all its certificates (ms). */
  readonly validFrom: number;
  readonly validUntil: number;
}

/**
 * Remembers signer chains that validated against a set of roots. The control plane signs many events with the
 * same SVID, so path validation (several signature checks) runs once per (roots, chain) instead of per event.
 * Only successes are kept, each until its path expires; the size is bounded, oldest first out.
 * Owned by one subscriber: pass it to verifyEvent, there is no global instance.
 */
export class SignerChainCache {
  readonly #maxEntries: number;
  readonly #entries = new Map<string, ValidatedSigner>();
  readonly #rootPrints = new WeakMap<readonly Uint8Array[], string>();

  constructor(options: { maxEntries?: number } = {}) {
    this.#maxEntries = Math.max(1, options.maxEntries ?? 16);
  }

  get size(): number {
    return this.#entries.size;
  }

  key(roots: readonly Uint8Array[], chain: readonly Uint8Array[]): string {
    let rootsPrint = this.#rootPrints.get(roots);
    if (rootsPrint === undefined) {
      rootsPrint = fingerprint(
        [...roots]
          .map((r) => Buffer.from(r).toString('hex'))
          .sort()
          .map((h) => Buffer.from(h, 'hex')),
      );
      this.#rootPrints.set(roots, rootsPrint);
    }
    return `${rootsPrint}:${fingerprint(chain)}`;
  }

  get(key: string, now: number): ValidatedSigner | undefined {
    const hit = this.#entries.get(key);
    if (hit === undefined) return undefined;
    if (now > hit.validUntil || now < hit.validFrom) {
      this.#entries.delete(key);
      return undefined;
    }
    return hit;
  }

  set(key: string, signer: ValidatedSigner): void {
    this.#entries.delete(key);
    this.#entries.set(key, signer);
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }
}

/** SHA-256 over length-prefixed items, so different splits of the same bytes differ. */
function fingerprint(items: readonly Uint8Array[]): string {
  const h = createHash('sha256');
  for (const item of items) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(item.length);
    h.update(len).update(item);
  }
  return h.digest('hex');
}
