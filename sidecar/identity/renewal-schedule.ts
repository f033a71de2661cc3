/**
 * When the sidecar renews and retries: pure functions of `now` and an injected random source in [0, 1), so the
 * whole schedule is table-testable (as SPIRE's rotationutil and linkerd2-proxy's `refresh_in`).
 */

export interface RenewalDelayInput {
  /** Epoch ms of the SVID's validity window. */
  readonly notBefore: number;
  readonly notAfter: number;
  readonly now: number;
  readonly random: () => number;
  /** Spread around half life, as a fraction of it; 0.1 renews between 45 % and 55 % of the lifetime. */
  readonly jitterFraction?: number;
}

/**
 * Milliseconds until the SVID should be renewed: half its lifetime, ±`jitterFraction` of that half, measured from
 * notBefore. The jitter keeps a fleet started together from renewing together. Never negative: an SVID already past
 * its renewal point (a late start, a suspended host) is renewed at once.
 */
export function renewalDelayMs(input: RenewalDelayInput): number {
  const lifetime = Math.max(0, input.notAfter - input.notBefore);
  const jitter = input.jitterFraction ?? 0.1;
  const factor = 1 - jitter + 2 * jitter * unit(input.random);
  const renewAt = input.notBefore + (lifetime / 2) * factor;
  return Math.max(0, Math.round(renewAt - input.now));
}

export type JitterMode = 'full' | 'equal';

export interface BackoffOptions {
  readonly baseMs?: number;
  readonly maxMs?: number;
  readonly random: () => number;
  /**
   * 'equal' (default) waits between half and all of the capped exponential step, so waits grow with every attempt;
   * 'full' waits anywhere from 0 to the step, spreading a thundering herd further.
   */
  readonly jitter?: JitterMode;
}

/** Delay before retry number `attempt` (1 for the first retry): min(maxMs, baseMs * 2^(attempt-1)) with jitter. */
export function backoffDelayMs(attempt: number, options: BackoffOptions): number {
  const baseMs = options.baseMs ?? 1000;
  const maxMs = options.maxMs ?? 60_000;
  const exponent = Math.max(0, Math.floor(attempt) - 1);
  // 2^exponent overflows to Infinity for huge attempt counts; min() then caps it.
  const step = Math.min(maxMs, baseMs * 2 ** exponent);
  const r = unit(options.random);
  const delay = (options.jitter ?? 'equal') === 'full' ? step * r : step / 2 + (step / 2) * r;
  return Math.round(delay);
}

export interface ExpiryCapInput {
  readonly now: number;
  /** notAfter of the SVID being served. */
  readonly notAfter: number;
  /** How long before notAfter the last renewal attempt is made. */
  readonly marginMs?: number;
}

/**
 * Caps a retry delay so the retry runs before the served SVID expires: a backoff that would overshoot notAfter is
 * pulled in to `notAfter - marginMs`. When that point has already passed, the delay is returned unchanged (the
 * SVID will expire first and the caller moves to re-attestation); capping to 0 then would make a hot retry loop.
 */
export function capBeforeExpiryMs(delayMs: number, input: ExpiryCapInput): number {
  const latest = input.notAfter - (input.marginMs ?? 1000) - input.now;
  if (latest <= 0) return delayMs;
  return Math.min(delayMs, latest);
}

/** A random draw clamped to [0, 1], so a misbehaving source cannot produce negative or runaway delays. */
function unit(random: () => number): number {
  const r = random();
  return Number.isFinite(r) ? Math.min(1, Math.max(0, r)) : 0.5;
}
