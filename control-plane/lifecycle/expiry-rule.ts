/**
 * When a certificate deserves an expiry alert: a pure function of the certificate and `now` (DESIGN.md section 10),
 * so every threshold is table-tested with plain numbers.
 *
 * - Short-lived certificates (lifetime under `shortLivedMaxMs`, i.e. SVIDs) renew themselves: they alert only once
 *   past `lifetimeFraction` of their lifetime with no successor, because by then a renewal should have happened.
 * - Long-lived certificates alert at each of `daysBefore` (30/14/7 by default) before notAfter, then once expired.
 *
 * The rule names only the threshold crossed most recently; the alert engine raises one alert per certificate and
 * threshold it has not raised before, so a certificate first seen 10 days before expiry raises `days-14` only.
 */

export type ExpiryThreshold = `days-${number}` | 'lifetime' | 'expired';
export type AlertSeverity = 'warning' | 'critical';

export interface ExpiryPolicy {
  /** Certificates with a lifetime below this are short-lived. */
  readonly shortLivedMaxMs: number;
  /** Fraction of a short-lived lifetime after which a missing successor is an alert. */
  readonly lifetimeFraction: number;
  /** Long-lived thresholds, in days before notAfter (any order). */
  readonly daysBefore: readonly number[];
  /** Thresholds at or under this many days are critical; above, warnings. Expiry is always critical. */
  readonly criticalWithinDays: number;
}

const DAY_MS = 86_400_000;

export const DEFAULT_EXPIRY_POLICY: ExpiryPolicy = Object.freeze({
  shortLivedMaxMs: 7 * DAY_MS,
  lifetimeFraction: 2 / 3,
  daysBefore: Object.freeze([30, 14, 7]),
  criticalWithinDays: 7,
});

export interface ExpiryFacts {
  readonly notBefore: number;
  readonly notAfter: number;
}

export interface ExpiryVerdict {
  readonly threshold: ExpiryThreshold;
  readonly severity: AlertSeverity;
}

/** The threshold `cert` has crossed at `now`, or undefined when it needs no attention yet. */
export function expiryVerdict(
  cert: ExpiryFacts,
  now: number,
  policy: ExpiryPolicy = DEFAULT_EXPIRY_POLICY,
): ExpiryVerdict | undefined {
  if (now >= cert.notAfter) return { threshold: 'expired', severity: 'critical' };
  const lifetime = cert.notAfter - cert.notBefore;
  if (lifetime < policy.shortLivedMaxMs) {
    if (now < cert.notBefore + lifetime * policy.lifetimeFraction) return undefined;
    return { threshold: 'lifetime', severity: 'critical' };
  }
  const left = cert.notAfter - now;
  const crossed = policy.daysBefore.filter((d) => left <= d * DAY_MS).sort((a, b) => a - b)[0];
  if (crossed === undefined) return undefined;
  return { threshold: `days-${crossed}`, severity: crossed <= policy.criticalWithinDays ? 'critical' : 'warning' };
}

/** A sentence for logs and webhooks: what is wrong and what to do. */
export function describeVerdict(verdict: ExpiryVerdict, name: string, notAfter: number): string {
  const at = new Date(notAfter).toISOString();
  if (verdict.threshold === 'expired') return `${name} expired at ${at}: replace it now`;
  if (verdict.threshold === 'lifetime')
    return `${name} is past 2/3 of its lifetime without a successor (expires ${at}): check that its renewal runs`;
  return `${name} expires within ${verdict.threshold.slice(5)} days (${at}): renew it`;
}
