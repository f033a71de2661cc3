import type { Clock, Timer } from '../../common/clock.ts';
import { LogField, type Logger } from '../../common/logger.ts';
import type { SigilError } from '../../common/errors.ts';
import type { Store } from '../store/store.ts';

export interface RetentionDutyOptions {
  /** Audit entries older than this are removed. */
  readonly auditRetentionMs: number;
  /** Sidecar instances not heard from for this long leave the fleet view. */
  readonly fleetForgetAfterMs: number;
  /** Default hourly. */
  readonly everyMs?: number;
}

export interface RetentionDutyDeps {
  readonly store: Pick<Store, 'pruneAudit' | 'pruneSidecarContacts'>;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * A leader duty: prunes the audit log and forgotten sidecars on start and then every hour. A failed run is logged
 * and retried at the next tick; entries are never removed any other way.
 */
export class RetentionDuty {
  readonly #options: RetentionDutyOptions;
  readonly #deps: RetentionDutyDeps;
  #timer: Timer | undefined;
  #running: Promise<void> | undefined;

  constructor(options: RetentionDutyOptions, deps: RetentionDutyDeps) {
    this.#options = options;
    this.#deps = deps;
  }

  start(): void {
    if (this.#timer) return;
    this.#tick();
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** Resolves when the run in progress (if any) has ended: tests await it instead of sleeping. */
  async idle(): Promise<void> {
    await this.#running;
  }

  /** One pass; resolves with what was removed. Exposed for tests and for the tick. */
  async runOnce(): Promise<{ auditEntries: number; sidecars: number }> {
    const { store, clock } = this.#deps;
    const now = clock.now();
    const auditEntries = await store.pruneAudit(now - this.#options.auditRetentionMs);
    const sidecars = await store.pruneSidecarContacts(now - this.#options.fleetForgetAfterMs);
    if (auditEntries > 0 || sidecars > 0)
      this.#deps.logger.info({ audit_entries: auditEntries, sidecars }, 'retention pruned old entries');
    return { auditEntries, sidecars };
  }

  #tick(): void {
    this.#running ??= this.runOnce()
      .then(() => undefined)
      .catch((err: unknown) => {
        this.#deps.logger.warn(
          { err, [LogField.errCode]: (err as SigilError).code },
          'retention run failed; retried later',
        );
      })
      .finally(() => {
        this.#running = undefined;
      });
    this.#timer = this.#deps.clock.setTimer(this.#options.everyMs ?? 3_600_000, () => this.#tick());
  }
}
