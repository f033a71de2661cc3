import type { ProxyDirection } from './proxy-observer.ts';

/** What the injected SVID validator extracts from a peer's leaf certificate. */
export interface PeerIdentity {
  readonly spiffeId: string;
}

/**
 * Validates a peer leaf certificate (DER) against the X.509-SVID profile and returns its identity.
 * Throws (preferably a SigilError) when the certificate is not an acceptable SVID. Node has already
 * verified the chain to the bundle when this runs.
 */
export type VerifyPeer = (rawDer: Buffer) => PeerIdentity;

/** Everything known about an authenticated peer when a connection is authorised. */
export interface PeerInfo {
  readonly direction: ProxyDirection;
  readonly identity: PeerIdentity;
  /** Serial of the peer's leaf certificate, uppercase hex as Node reports it. */
  readonly serial: string;
  /** SHA-256 fingerprint of the peer's leaf certificate, as Node formats it. */
  readonly fingerprint256: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The listener's own port (the destination port for policy). */
  readonly localPort: number;
}

export type AuthorizationResult = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

/** Revocation and policy plug in here. Runs once per connection, after the handshake, before any byte is forwarded. */
export type AuthorizePeer = (peer: PeerInfo) => AuthorizationResult | Promise<AuthorizationResult>;

export const allowAllPeers: AuthorizePeer = () => ({ allowed: true });

/** A live proxied connection, as seen by `closeWhere` predicates. */
export interface ConnectionInfo {
  readonly id: number;
  readonly peer: PeerInfo;
  readonly openedAt: number;
}
