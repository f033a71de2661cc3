import type { Clock, Timer } from '../../common/clock.ts';
import type { Logger } from '../../common/logger.ts';

/**
 * Drives the ACME duty: one pass shortly after start, then one per interval. A small class with `runOnce` so a
 * scheduler (a singleton duty under an advisory lock in HA) or a test can drive it instead of the timer. Passes never
 * overlap and never throw out: each certificate's failure is recorded and retried by the renewer's own backoff.
 */
export class AcmeRenewalLoop {
  readonly #intervalMs: number;
  readonly #deps: { readonly duty: { runOnce(): Promise<unknown> }; readonly clock: Clock; readonly logger: Logger };
  #timer: Timer | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;

  constructor(
    options: { readonly intervalMs: number },
    deps: { readonly duty: { runOnce(): Promise<unknown> }; readonly clock: Clock; readonly logger: Logger },
  ) {
    this.#intervalMs = options.intervalMs;
    this.#deps = deps;
  }

  start(): void {
    this.#stopped = false;
    this.#arm(0);
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** One pass; a pass already running is joined rather than doubled. */
  runOnce(): Promise<void> {
    this.#running ??= this.#pass().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #pass(): Promise<void> {
    try {
      await this.#deps.duty.runOnce();
    } catch (err) {
      this.#deps.logger.error({ err }, 'ACME renewal pass failed');
    }
  }

  #arm(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = this.#deps.clock.setTimer(delayMs, () => {
      void this.runOnce().then(() => this.#arm(this.#intervalMs));
    });
  }
}
