import type { Clock } from '../../common/clock.ts';
import type { PeerCertificate } from './peer-identity-cache.ts';

/** The server a session was established with, as verified on the full handshake that issued it. */
export interface SessionServer extends PeerCertificate {
  /** The server's leaf (DER), so a resumed connection can be re-checked against the current validator and bundle. */
  readonly raw: Buffer;
}

/** A TLS 1.3 session ticket the outbound side may offer, with the verdict it inherits. */
export interface CachedSession {
  readonly session: Buffer;
  readonly server: SessionServer;
  /** Epoch ms; never past the server's notAfter nor our own SVID's (the one the server's ticket records). */
  readonly expiresAt: number;
}

export interface ClientSessionCacheOptions {
  readonly clock: Clock;
  /** Sessions kept for the upstream; the oldest is forgotten past this. Default 4. */
  readonly maxEntries?: number;
  /**
   * A session is offered only while it stays valid this much longer: the resumed handshake must complete before it
   * expires, or the connection is refused after it (the caller re-checks the expiry). Default 0.
   */
  readonly offerMarginMs?: number;
}

/**
 * The session tickets of one upstream, newest first, bounded. On a resumed TLS 1.3 connection Node's client
 * exposes no peer certificate (getPeerX509Certificate() is undefined and checkServerIdentity is not called), so
 * the server's verified identity travels with the ticket and is re-checked by the caller on every resumption.
 *
 * A ticket is offered to several connections (OpenSSL's server accepts a stateless ticket more than once, and
 * without early data there is nothing to replay): concurrent connections resume from the newest valid one, and
 * Node gives new tickets only on full handshakes. Expired entries are dropped when met.
 */
export class ClientSessionCache {
  readonly #clock: Clock;
  readonly #maxEntries: number;
  readonly #offerMarginMs: number;
  #entries: CachedSession[] = [];

  constructor(options: ClientSessionCacheOptions) {
    this.#clock = options.clock;
    this.#maxEntries = Math.max(1, options.maxEntries ?? 4);
    this.#offerMarginMs = Math.max(0, options.offerMarginMs ?? 0);
  }

  get size(): number {
    return this.#entries.length;
  }

  /** The newest session still valid for the offer margin past the clock's now, if any. */
  take(): CachedSession | undefined {
    const until = this.#clock.now() + this.#offerMarginMs;
    // Called per connection: the list is rebuilt only when something in it has expired.
    if (this.#entries.some((e) => !(e.expiresAt > until)))
      this.#entries = this.#entries.filter((e) => e.expiresAt > until);
    return this.#entries[0];
  }

  add(entry: CachedSession): void {
    if (!(entry.expiresAt > this.#clock.now())) return;
    this.#entries.unshift(entry);
    if (this.#entries.length > this.#maxEntries) this.#entries.length = this.#maxEntries;
  }

  /** Forgets one session, e.g. one the server declined to resume. */
  forget(entry: CachedSession): void {
    this.#entries = this.#entries.filter((e) => e !== entry);
  }

  /** Forgets the sessions whose server matches, e.g. a newly revoked one. Returns how many. */
  forgetWhere(predicate: (server: SessionServer) => boolean): number {
    const before = this.#entries.length;
    this.#entries = this.#entries.filter((e) => !predicate(e.server));
    return before - this.#entries.length;
  }

  /** Forgets everything: a new bundle or a new SVID of our own makes every earlier session stale. */
  clear(): void {
    this.#entries = [];
  }
}
