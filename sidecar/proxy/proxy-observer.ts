export type ProxyDirection = 'inbound' | 'outbound';

/** Why a connection was refused. Stable strings: they become metric labels and log fields. */
export type RefusalReason =
  | 'no_credentials'
  | 'no_peer_certificate'
  | 'untrusted_certificate'
  | 'unsupported_protocol'
  | 'handshake_failed'
  | 'invalid_svid'
  | 'unexpected_peer'
  | 'not_authorized'
  | 'max_connections'
  /** Slowloris guards: too many handshakes in progress on the listener, or from one source address. */
  | 'pending_handshakes'
  | 'pending_handshakes_per_source'
  | 'app_unreachable'
  | 'upstream_unreachable'
  /** Outbound: the destination reset the connection or sent a TLS alert before sending a byte (its deny). */
  | 'refused_by_peer'
  /** A resumed session outlived the certificate it was issued to. */
  | 'session_expired';

/** How a TLS session was established: a full handshake (certificates exchanged) or a resumption (ticket). */
export type SessionMode = 'full' | 'resumed';

/** Why an established (piped) connection ended. */
export type CloseReason = 'done' | 'idle_timeout' | 'max_lifetime' | 'error' | 'closed_by_request' | 'shutdown';

export type ByteFlow = 'downstream_to_upstream' | 'upstream_to_downstream';

/**
 * Observability port of the data path. The composition root maps it to prom-client metrics; methods must be
 * cheap and must not throw (they run on the socket hot path).
 */
export interface ProxyObserver {
  handshake(direction: ProxyDirection, outcome: 'ok' | RefusalReason): void;
  /** Once per connection that passed identity, revocation and policy checks. */
  session(direction: ProxyDirection, mode: SessionMode): void;
  refused(direction: ProxyDirection, reason: RefusalReason): void;
  connectionOpened(direction: ProxyDirection): void;
  connectionClosed(direction: ProxyDirection, reason: CloseReason, durationMs: number): void;
  bytes(direction: ProxyDirection, flow: ByteFlow, n: number): void;
}

export const noopObserver: ProxyObserver = Object.freeze({
  handshake() {},
  session() {},
  refused() {},
  connectionOpened() {},
  connectionClosed() {},
  bytes() {},
});
