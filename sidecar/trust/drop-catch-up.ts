import type { Clock, Timer } from '../../common/clock.ts';

/**
 * Runs `catchUp` after event-channel messages were dropped unread (any of them may have been the control plane's):
 * at once for the first drop, then at most once per `windowMs`, and once more at the end of a window that saw
 * drops, so a change lost in a flood's last moments is fetched too. Bounded: one catch-up per window however long
 * the flood lasts.
 */
export class DropCatchUp {
  readonly #windowMs: number;
  readonly #clock: Clock;
  readonly #catchUp: () => void;
  #lastAt: number | undefined;
  #trailing: Timer | undefined;

  constructor(options: { windowMs: number; clock: Clock; catchUp: () => void }) {
    this.#windowMs = options.windowMs;
    this.#clock = options.clock;
    this.#catchUp = options.catchUp;
  }

  dropped(): void {
    const now = this.#clock.now();
    if (this.#lastAt === undefined || now - this.#lastAt >= this.#windowMs) {
      this.#run(now);
      return;
    }
    this.#trailing ??= this.#clock.setTimer(this.#lastAt + this.#windowMs - now, () => {
      this.#trailing = undefined;
      this.#run(this.#clock.now());
    });
  }

  stop(): void {
    this.#trailing?.cancel();
    this.#trailing = undefined;
  }

  #run(now: number): void {
    this.#lastAt = now;
    this.#catchUp();
  }
}
