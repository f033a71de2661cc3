/** Time as a dependency: logic asks a Clock, tests pass a FakeClock and advance it. */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once after `delayMs` of this clock's time. */
  setTimer(delayMs: number, fn: () => void): Timer;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(delayMs, fn) {
    const handle = setTimeout(fn, Math.max(0, delayMs));
    handle.unref?.();
    return { cancel: () => clearTimeout(handle) };
  },
};

interface PendingTimer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that only moves when told. `advance` fires due timers in order; `waitForTimers` lets a test
 * wait until the code under test has armed its timer before advancing (no sleeps).
 */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: PendingTimer[] = [];
  #waiters: { count: number; resolve: () => void }[] = [];

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimer(delayMs: number, fn: () => void): Timer {
    const timer: PendingTimer = { at: this.#now + Math.max(0, delayMs), seq: this.#seq++, fn, cancelled: false };
    this.#timers.push(timer);
    this.#notify();
    return {
      cancel: () => {
        timer.cancelled = true;
        this.#timers = this.#timers.filter((t) => t !== timer);
      },
    };
  }

  /** When the earliest armed timer fires, if any: lets a test step from timer to timer. */
  get nextTimerAt(): number | undefined {
    return this.#timers.reduce<number | undefined>(
      (min, t) => (min === undefined || t.at < min ? t.at : min),
      undefined,
    );
  }

  get pendingTimers(): number {
    return this.#timers.length;
  }

  /** Resolves once at least `count` timers are armed. */
  waitForTimers(count = 1): Promise<void> {
    if (this.#timers.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = Math.max(this.#now, due.at);
      if (!due.cancelled) due.fn();
    }
    this.#now = target;
  }

  set(ms: number): void {
    if (ms < this.#now) throw new RangeError('FakeClock cannot move backwards');
    this.advance(ms - this.#now);
  }

  #notify(): void {
    const ready = this.#waiters.filter((w) => this.#timers.length >= w.count);
    this.#waiters = this.#waiters.filter((w) => this.#timers.length < w.count);
    for (const w of ready) w.resolve();
  }
}
