import type { Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';

export interface SourceRateLimitOptions {
  /** Requests each source may make per window. */
  readonly limit: number;
  readonly windowMs: number;
  /** Sources tracked at once; past it the oldest window is forgotten (memory stays bounded under spoofed floods). */
  readonly maxSources?: number;
}

/**
 * Fixed-window request budget per source address (the peer's IP, port stripped), on an injected clock. Used on
 * Attest, where a caller has nothing to authenticate with but a token: guessing tokens costs a window per `limit`.
 */
export class SourceRateLimit {
  readonly #options: Required<SourceRateLimitOptions>;
  readonly #clock: Clock;
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(options: SourceRateLimitOptions, deps: { clock: Clock }) {
    this.#options = { maxSources: 10_000, ...options };
    this.#clock = deps.clock;
  }

  /** Counts one request of `peer` (grpc-js getPeer(): "ipv4:1.2.3.4:5678"); RATE_LIMITED when over budget. */
  take(peer: string, what: string): void {
    const source = sourceOf(peer);
    const now = this.#clock.now();
    let w = this.#windows.get(source);
    if (!w || now - w.start >= this.#options.windowMs) {
      this.#windows.delete(source);
      if (this.#windows.size >= this.#options.maxSources) {
        const oldest = this.#windows.keys().next().value;
        if (oldest !== undefined) this.#windows.delete(oldest);
      }
      w = { start: now, count: 0 };
      this.#windows.set(source, w);
    }
    w.count++;
    if (w.count > this.#options.limit) {
      const retryInS = Math.ceil((w.start + this.#options.windowMs - now) / 1000);
      throw new SigilError(
        ErrorCode.RATE_LIMITED,
        `too many ${what} requests from ${source} (${this.#options.limit} per ${this.#options.windowMs / 1000}s): retry in ${retryInS}s`,
        { details: { source } },
      );
    }
  }
}

/** "ipv4:1.2.3.4:5678" → "1.2.3.4", "ipv6:[::1]:5678" → "::1"; anything else as is. */
export function sourceOf(peer: string): string {
  const rest = peer.replace(/^ipv[46]:/, '');
  const v6 = /^\[([^\]]+)\]:\d+$/.exec(rest);
  if (v6) return v6[1] as string;
  const v4 = /^([^:]+):\d+$/.exec(rest);
  return v4 ? (v4[1] as string) : rest;
}
