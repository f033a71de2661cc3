import type { Logger } from 'pino';
import type { Clock } from '../../common/clock.ts';
import type { ProxyDirection, ProxyObserver, RefusalReason } from './proxy-observer.ts';
import { RateLimiter } from './rate-limiter.ts';

export interface RefusalRecorderOptions {
  readonly direction: ProxyDirection;
  readonly observer: ProxyObserver;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Log lines per reason per second; the rest are counted, and the next line says how many were dropped. */
  readonly logsPerSecond?: number;
}

/** Counts refusals by reason, reports them to the observer and logs them without letting a flood fill the log. */
export class RefusalRecorder {
  readonly #direction: ProxyDirection;
  readonly #observer: ProxyObserver;
  readonly #logger: Logger;
  readonly #limiter: RateLimiter;
  readonly #counts = new Map<RefusalReason, number>();

  constructor(options: RefusalRecorderOptions) {
    this.#direction = options.direction;
    this.#observer = options.observer;
    this.#logger = options.logger;
    this.#limiter = new RateLimiter({ limit: options.logsPerSecond ?? 5, windowMs: 1000, clock: options.clock });
  }

  record(reason: RefusalReason, fields: Readonly<Record<string, unknown>> = {}): void {
    this.#counts.set(reason, (this.#counts.get(reason) ?? 0) + 1);
    this.#observer.refused(this.#direction, reason);
    const decision = this.#limiter.take(reason);
    if (decision.allowed) {
      this.#logger.warn({ ...fields, reason, suppressed: decision.suppressed }, 'connection refused');
    }
  }

  counts(): Readonly<Partial<Record<RefusalReason, number>>> {
    return Object.fromEntries(this.#counts);
  }
}
