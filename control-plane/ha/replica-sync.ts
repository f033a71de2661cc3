import type { Clock, Timer } from '../../common/clock.ts';
import { LogField, type Logger } from '../../common/logger.ts';
import type { ChangeKind, ChangeSignal } from './coordination.ts';

export interface ReplicaSyncDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Told after every reload, for sigil_control_plane_replica_reloads_total. */
  readonly onReload?: (kind: ChangeKind, ok: boolean) => void;
}

/**
 * Keeps this replica's in-memory views (CA, revocation snapshot, policies, running rotation orders) in line with the
 * store when other replicas change it. Signals come from PostgreSQL notifications and NATS events; a full reload
 * every `intervalMs` is the backstop for any that were lost. Reloads of one kind never overlap: a signal that arrives
 * during one makes it run once more afterwards. A failed reload is logged and retried at the next signal or interval;
 * the view in force stays.
 */
export class ReplicaSync {
  readonly #intervalMs: number;
  readonly #deps: ReplicaSyncDeps;
  readonly #reloaders = new Map<ChangeKind, () => Promise<void>>();
  readonly #running = new Map<ChangeKind, Promise<void>>();
  readonly #again = new Set<ChangeKind>();
  #timer: Timer | undefined;
  #stopped = true;

  constructor(options: { intervalMs: number }, deps: ReplicaSyncDeps) {
    this.#intervalMs = options.intervalMs;
    this.#deps = deps;
  }

  /** What reloading `kind` means for this replica. */
  register(kind: ChangeKind, reload: () => Promise<void>): void {
    this.#reloaders.set(kind, reload);
  }

  start(): void {
    this.#stopped = false;
    this.#arm();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    await Promise.all(this.#running.values());
  }

  /** Reloads what the signal names ('all': everything); resolves when done. */
  signal(signal: ChangeSignal): Promise<void> {
    const kinds = signal === 'all' ? [...this.#reloaders.keys()] : [signal];
    return Promise.all(kinds.map((k) => this.#reload(k))).then(() => undefined);
  }

  #reload(kind: ChangeKind): Promise<void> {
    const reload = this.#reloaders.get(kind);
    if (!reload || this.#stopped) return Promise.resolve();
    const running = this.#running.get(kind);
    if (running) {
      this.#again.add(kind);
      return running;
    }
    const run = (async () => {
      do {
        this.#again.delete(kind);
        try {
          await reload();
          this.#deps.onReload?.(kind, true);
        } catch (err) {
          this.#deps.onReload?.(kind, false);
          this.#deps.logger.warn(
            { err, [LogField.errCode]: (err as { code?: string }).code, kind },
            'reloading a change made by another replica failed; the current view stays until the next try',
          );
        }
      } while (this.#again.has(kind) && !this.#stopped);
    })().finally(() => this.#running.delete(kind));
    this.#running.set(kind, run);
    return run;
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#timer = this.#deps.clock.setTimer(this.#intervalMs, () => {
      void this.signal('all').finally(() => this.#arm());
    });
  }
}
