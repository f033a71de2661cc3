/**
 * 'starting': no SVID yet; 'ready': serving a valid SVID; 'renewing': serving a valid SVID whose renewal is due and
 * has not succeeded yet; 'expired': the SVID ran out before a renewal succeeded, nothing is served; 'revoked': the control plane refused
 * to renew the SVID because it is revoked, nothing is served until a re-attestation succeeds; 'stopped'.
 * /readyz is ready in 'ready' and 'renewing'.
 */
export type SvidState = 'starting' | 'ready' | 'renewing' | 'expired' | 'revoked' | 'stopped';
export type IssuanceVia = 'attest' | 'renew';

export interface SvidIssuedEvent {
  readonly via: IssuanceVia;
  /** What triggered the attempt: 'start', 'scheduled', 'retry', 'expired' or the reason given to renewNow(). */
  readonly reason: string;
  readonly spiffeId: string;
  readonly serial: string;
  readonly notAfter: number;
}

export interface SvidFailedEvent {
  readonly via: IssuanceVia;
  readonly reason: string;
  readonly code: string;
  /** Consecutive failures, 1 for the first. */
  readonly attempt: number;
  readonly retryInMs: number;
}

/** Hooks for metrics; every method optional, and a throwing observer never disturbs the manager. */
export interface SvidObserver {
  issued?(event: SvidIssuedEvent): void;
  failed?(event: SvidFailedEvent): void;
  stateChanged?(state: SvidState): void;
}
