/**
 * When an ACME certificate is renewed: a pure function of the certificate, the CA's renewal information (ARI,
 * RFC 9773) and `now`. Times are Unix milliseconds.
 *
 * - ARI first: a uniformly random moment inside `suggestedWindow`, picked once per window (so repeated checks do not
 *   draw again and drift early); a window already over means now.
 * - Without ARI, like certbot and lego: when a third of the lifetime is left, half for lifetimes under 10 days.
 * - A failed attempt is retried after a capped exponential backoff (1 min, doubling, at most 4 h), and never before
 *   a server's Retry-After.
 */

export const DAY_MS = 86_400_000;
const SHORT_LIFETIME_MS = 10 * DAY_MS;
export const BACKOFF_BASE_MS = 60_000;
export const BACKOFF_CAP_MS = 4 * 3_600_000;
/** A certificate this close to expiry whose renewal keeps failing raises an alert. */
export const ALERT_WITHIN_MS = 7 * DAY_MS;
/** Bounds on how often renewal information is fetched, whatever Retry-After says. */
export const ARI_RECHECK_MIN_MS = 60_000;
export const ARI_RECHECK_MAX_MS = DAY_MS;
/** RFC 9773 leaves the default to the client; Let's Encrypt suggests checking a few times a day. */
export const ARI_RECHECK_DEFAULT_MS = 6 * 3_600_000;

export interface CertificateLifetime {
  readonly notBefore: number;
  readonly notAfter: number;
}

export interface AriWindow {
  readonly start: number;
  readonly end: number;
}

/** The time chosen inside an ARI window, remembered with the window it was drawn from. */
export interface ChosenAriTime extends AriWindow {
  readonly at: number;
}

export type RenewalBasis = 'ari' | 'lifetime';

export interface RenewalPlan {
  readonly at: number;
  readonly basis: RenewalBasis;
  /** Present when basis is 'ari': persist it and pass it back as `previous` next time. */
  readonly chosen?: ChosenAriTime;
}

export interface PlanInputs {
  readonly certificate: CertificateLifetime;
  /** The latest valid suggested window, if the CA offers ARI. */
  readonly ari?: AriWindow | undefined;
  /** What an earlier plan chose; reused while the window is unchanged. */
  readonly previous?: ChosenAriTime | undefined;
  /** Uniform in [0, 1). */
  readonly random: () => number;
}

/** The lifetime rule alone: a third of the lifetime left, a half under 10 days of lifetime. */
export function lifetimeRenewalTime(certificate: CertificateLifetime): number {
  const lifetime = Math.max(0, certificate.notAfter - certificate.notBefore);
  const left = lifetime < SHORT_LIFETIME_MS ? lifetime / 2 : lifetime / 3;
  return Math.round(certificate.notAfter - left);
}

export function planRenewal(inputs: PlanInputs): RenewalPlan {
  const { ari, previous } = inputs;
  if (ari === undefined || !(ari.end > ari.start)) {
    return { at: lifetimeRenewalTime(inputs.certificate), basis: 'lifetime' };
  }
  if (previous !== undefined && previous.start === ari.start && previous.end === ari.end) {
    return { at: previous.at, basis: 'ari', chosen: previous };
  }
  const at = Math.floor(ari.start + inputs.random() * (ari.end - ari.start));
  const chosen = { start: ari.start, end: ari.end, at };
  return { at, basis: 'ari', chosen };
}

/** Delay before attempt `failures + 1` after `failures` consecutive failures (1 → 1 min, doubling, capped at 4 h). */
export function backoffMs(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 30));
}

export interface AttemptInputs {
  readonly renewAt: number;
  readonly failures: number;
  /** When the last failed attempt ended. */
  readonly lastFailureAt?: number | undefined;
  /** A server's Retry-After on the last failure (rate limit, outage), as an absolute time. */
  readonly retryAfterAt?: number | undefined;
}

/** The earliest moment the next attempt may run: the renewal time, pushed back by backoff and Retry-After. */
export function nextAttemptAt(inputs: AttemptInputs): number {
  let at = inputs.renewAt;
  if (inputs.failures > 0 && inputs.lastFailureAt !== undefined) {
    at = Math.max(at, inputs.lastFailureAt + backoffMs(inputs.failures));
  }
  if (inputs.retryAfterAt !== undefined) at = Math.max(at, inputs.retryAfterAt);
  return at;
}

/** When to fetch renewal information again: the server's Retry-After, kept within sane bounds. */
export function nextAriCheckAt(now: number, retryAfterMs: number | undefined): number {
  const wait = retryAfterMs ?? ARI_RECHECK_DEFAULT_MS;
  return now + Math.min(ARI_RECHECK_MAX_MS, Math.max(ARI_RECHECK_MIN_MS, wait));
}

/** A failing renewal close to expiry is an incident, not a retry detail. */
export function renewalAlertDue(input: { now: number; notAfter: number; failures: number }): boolean {
  return input.failures > 0 && input.notAfter - input.now <= ALERT_WITHIN_MS;
}
