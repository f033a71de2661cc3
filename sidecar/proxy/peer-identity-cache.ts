import { X509Certificate } from 'node:crypto';
import type { PeerIdentity, VerifyPeer } from './peer-info.ts';

/** What the hot path needs of a peer certificate, worked out once per certificate. */
export interface PeerCertificate {
  readonly identity: PeerIdentity;
  /** Serial of the certificate, uppercase hex as Node reports it. */
  readonly serial: string;
  /** SHA-256 fingerprint, as Node formats it. */
  readonly fingerprint256: string;
  /** End of validity, epoch ms: a resumed session must not outlive the certificate it was issued to. */
  readonly notAfter: number;
}

/** Serial, fingerprint and expiry of a DER certificate; injectable so tests can use fake certificates. */
export type DescribeCertificate = (rawDer: Buffer) => Omit<PeerCertificate, 'identity'>;

export const describeCertificate: DescribeCertificate = (rawDer) => {
  const cert = new X509Certificate(rawDer);
  return { serial: cert.serialNumber, fingerprint256: cert.fingerprint256, notAfter: cert.validToDate.getTime() };
};

export interface PeerIdentityCacheOptions {
  readonly verifyPeer: VerifyPeer;
  /** Certificates remembered; the least recently used one is forgotten past this. */
  readonly maxEntries?: number;
  readonly describe?: DescribeCertificate;
}

/**
 * Parses and validates each peer certificate once: the SVID checks, the serial and the fingerprint are worked out
 * on the first handshake that presents a certificate; later handshakes with the same certificate hit the cache.
 * The key is the DER itself as a latin1 string (one character per byte), so a different certificate for the same
 * SPIFFE ID is validated afresh, and a hit costs a string copy and a map lookup instead of a SHA-256 and an X.509
 * parse per handshake. Only successes are cached: a refused certificate is re-checked (and refused) each time, which
 * keeps a flood of bad certificates from evicting good entries any faster than the handshakes themselves allow.
 */
export class PeerIdentityCache {
  readonly #verifyPeer: VerifyPeer;
  readonly #describe: DescribeCertificate;
  readonly #maxEntries: number;
  readonly #entries = new Map<string, PeerCertificate>();

  constructor(options: PeerIdentityCacheOptions) {
    this.#verifyPeer = options.verifyPeer;
    this.#describe = options.describe ?? describeCertificate;
    this.#maxEntries = Math.max(1, options.maxEntries ?? 1024);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Returns what the certificate says, or throws what `verifyPeer` threw. */
  identify(rawDer: Buffer): PeerCertificate {
    const key = rawDer.toString('latin1');
    const hit = this.#entries.get(key);
    if (hit) {
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit;
    }
    const identity = this.#verifyPeer(rawDer);
    const entry = Object.freeze({ identity, ...this.#describe(rawDer) });
    this.#entries.set(key, entry);
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    return entry;
  }

  /** Forgets everything, e.g. when the trust bundle changes and earlier verdicts may no longer hold. */
  clear(): void {
    this.#entries.clear();
  }
}
