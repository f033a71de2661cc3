import type { Clock, Timer } from '../common/clock.ts';
import { LogField, type Logger } from '../common/logger.ts';
import type { CaRotation } from './ca-rotation.ts';
import { nextRotationStep, type RotationScheduleConfig, type RotationStep } from './ca/rotation-schedule.ts';

/** Re-evaluates at least this often: operators may drive steps by hand in between. */
const MAX_SLEEP_MS = 3_600_000;
const RETRY_MS = 10 * 60_000;

export interface CaRotationSchedulerDeps {
  readonly rotation: Pick<CaRotation, 'scheduleState' | 'prepare' | 'activate' | 'retire'>;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Life of a new intermediate (templates' default). */
  readonly intermediateTtlMs: number;
}

/**
 * Runs the automatic CA rotation schedule: takes each step when `nextRotationStep` says it is due, then sleeps until
 * the next one (at most an hour). A step that fails, or a retire that still has blockers, is retried later; the
 * operator can always step in with sigil ca rotate.
 */
export class CaRotationScheduler {
  readonly #config: RotationScheduleConfig;
  readonly #deps: CaRotationSchedulerDeps;
  #timer: Timer | undefined;
  #stopped = false;

  constructor(config: RotationScheduleConfig, deps: CaRotationSchedulerDeps) {
    this.#config = config;
    this.#deps = deps;
  }

  /** The step the schedule will take next, and when, from the CA's state now (operators may have stepped in). */
  async preview(): Promise<RotationStep> {
    const { rotation, clock, intermediateTtlMs } = this.#deps;
    return nextRotationStep({ ...(await rotation.scheduleState()), now: clock.now(), intermediateTtlMs }, this.#config);
  }

  /** Also after stop(): with several replicas the schedule runs only while this one leads. */
  start(): void {
    if (!this.#config.auto) return;
    this.#stopped = false;
    this.#timer?.cancel();
    this.#arm(0);
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
  }

  /** One evaluation: takes the step if it is due; returns the step considered and the one that comes after. */
  async evaluate(): Promise<{ readonly considered: RotationStep; readonly next: RotationStep }> {
    const { rotation, clock } = this.#deps;
    const step = await this.preview();
    if (step.step === 'none' || step.at > clock.now()) return { considered: step, next: step };
    const log = this.#deps.logger;
    switch (step.step) {
      case 'blocked':
        log.warn({ [LogField.reason]: step.reason }, 'automatic CA rotation cannot proceed');
        break;
      case 'prepare':
        log.info({ intermediate_only: step.intermediateOnly }, 'automatic CA rotation: preparing');
        await rotation.prepare({ intermediateOnly: step.intermediateOnly });
        break;
      case 'activate':
        log.info('automatic CA rotation: activating');
        await rotation.activate({ windowMs: this.#config.activateWindowMs });
        break;
      case 'retire': {
        const { blockers } = await rotation.retire();
        if (blockers.length > 0)
          log.warn(
            { blockers: blockers.length, first: blockers[0]?.spiffeId },
            'automatic CA rotation: retire waits for live certificates under the previous root',
          );
        break;
      }
    }
    return { considered: step, next: await this.preview() };
  }

  #arm(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = this.#deps.clock.setTimer(delayMs, () => void this.#tick());
  }

  async #tick(): Promise<void> {
    let delay = MAX_SLEEP_MS;
    try {
      const { considered: taken, next } = await this.evaluate();
      const due = next.step === 'none' ? MAX_SLEEP_MS : next.at - this.#deps.clock.now();
      // A step that was due but is still due (blocked, blockers left) is retried later, not in a loop.
      delay =
        taken.step !== 'none' && next.step === taken.step && due <= 0
          ? RETRY_MS
          : Math.min(MAX_SLEEP_MS, Math.max(1_000, due));
    } catch (err) {
      this.#deps.logger.error({ err }, 'automatic CA rotation step failed; retrying later');
      delay = RETRY_MS;
    }
    this.#arm(delay);
  }
}
