import type { Clock } from '../../common/clock.ts';

export interface RateLimiterOptions {
  /** Events allowed per key in one window. */
  readonly limit: number;
  readonly windowMs: number;
  readonly clock: Clock;
  /** Keys remembered at once; the oldest window is forgotten past this (keeps memory bounded). */
  readonly maxKeys?: number;
}

export interface RateDecision {
  readonly allowed: boolean;
  /** Events refused for this key since the last allowed one (report it with the next allowed event). */
  readonly suppressed: number;
}

interface Window {
  startedAt: number;
  used: number;
  suppressed: number;
}

/**
 * Fixed-window limiter per key, on an injected clock. Used to keep refusal logs readable under a flood:
 * at most `limit` lines per key per window, and the next line says how many were dropped.
 */
export class RateLimiter {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #clock: Clock;
  readonly #maxKeys: number;
  readonly #windows = new Map<string, Window>();

  constructor(options: RateLimiterOptions) {
    if (!(options.limit >= 1) || !(options.windowMs > 0)) {
      throw new RangeError('RateLimiter needs limit >= 1 and windowMs > 0');
    }
    this.#limit = options.limit;
    this.#windowMs = options.windowMs;
    this.#clock = options.clock;
    this.#maxKeys = options.maxKeys ?? 256;
  }

  take(key: string): RateDecision {
    const now = this.#clock.now();
    let window = this.#windows.get(key);
    if (!window) {
      if (this.#windows.size >= this.#maxKeys) {
        const oldest = this.#windows.keys().next();
        if (!oldest.done) this.#windows.delete(oldest.value);
      }
      window = { startedAt: now, used: 0, suppressed: 0 };
      this.#windows.set(key, window);
    } else if (now - window.startedAt >= this.#windowMs) {
      window.startedAt = now;
      window.used = 0;
    }
    if (window.used >= this.#limit) {
      window.suppressed += 1;
      return { allowed: false, suppressed: window.suppressed };
    }
    window.used += 1;
    const suppressed = window.suppressed;
    window.suppressed = 0;
    return { allowed: true, suppressed };
  }
}
