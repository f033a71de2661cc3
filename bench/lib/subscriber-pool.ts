import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { ChildProcesses } from './child-processes.ts';
import { processCpuMs } from './process-cpu.ts';
import type { FromWorker, ToWorker, WorkerReport, WorkerStart } from './subscriber-protocol.ts';

const WORKER = fileURLToPath(new URL('./subscriber-worker.ts', import.meta.url));

export interface SubscriberPoolOptions extends Omit<WorkerStart, 'type' | 'subscribers' | 'name'> {
  readonly subscribers: number;
  /** Worker processes the subscribers are spread over, so verification runs on every core. */
  readonly workers: number;
}

export interface PoolReport {
  readonly samples: Readonly<Record<string, readonly number[]>>;
  readonly dropped: Readonly<Record<string, number>>;
}

interface Worker {
  readonly child: ChildProcess;
  readonly subscribers: number;
  /** Highest sequence, by kind, that every subscriber of this worker has applied. */
  readonly completed: Map<string, number>;
  reportWaiter?: ((report: WorkerReport) => void) | undefined;
}

/**
 * Subscribers spread over worker processes. Completion is tracked per worker and kind as the highest sequence all
 * of its subscribers applied: the benchmark publishes one event at a time, so that is enough to know when an
 * event has reached everyone.
 */
export class SubscriberPool {
  readonly #workers: Worker[];
  readonly #waiters = new Set<() => void>();

  private constructor(workers: Worker[]) {
    this.#workers = workers;
    for (const worker of workers) {
      worker.child.on('message', (message: FromWorker) => {
        if (message.type === 'complete') {
          worker.completed.set(message.kind, Math.max(worker.completed.get(message.kind) ?? 0, message.sequence));
          for (const check of [...this.#waiters]) check();
        } else if (message.type === 'report') {
          worker.reportWaiter?.(message);
          worker.reportWaiter = undefined;
        }
      });
    }
  }

  /** Spawns the workers and resolves once every subscriber is connected to NATS. */
  static async start(options: SubscriberPoolOptions, children: ChildProcesses): Promise<SubscriberPool> {
    const { workers: count, subscribers, identities, ...rest } = options;
    const workers: Worker[] = [];
    const ready: Promise<void>[] = [];
    let firstOfWorker = 0;
    for (let w = 0; w < count; w++) {
      const share = Math.floor(subscribers / count) + (w < subscribers % count ? 1 : 0);
      const mine = identities?.slice(firstOfWorker, firstOfWorker + share);
      firstOfWorker += share;
      const child = children.track(
        spawn(process.execPath, [WORKER], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
      );
      workers.push({ child, subscribers: share, completed: new Map() });
      ready.push(
        new Promise((resolve, reject) => {
          child.on('message', (message: FromWorker) => {
            if (message.type === 'ready') resolve();
            if (message.type === 'failed')
              reject(new SigilError(ErrorCode.UNAVAILABLE, `subscriber worker ${w} failed to start: ${message.error}`));
          });
          child.once('exit', (code) =>
            reject(new SigilError(ErrorCode.UNAVAILABLE, `subscriber worker ${w} exited (${code})`)),
          );
        }),
      );
      child.send({
        type: 'start',
        ...rest,
        subscribers: share,
        name: `bench-w${w}`,
        ...(mine ? { identities: mine } : {}),
      } satisfies ToWorker);
    }
    await Promise.all(ready);
    return new SubscriberPool(workers);
  }

  get pids(): number[] {
    return this.#workers.map((w) => w.child.pid ?? 0);
  }

  cpuMs(): number {
    return this.pids.reduce((sum, pid) => sum + processCpuMs(pid), 0);
  }

  /** The highest sequence of `kind` that every subscriber has applied (0 if none). */
  completedEverywhere(kind: string): number {
    return Math.min(...this.#workers.map((w) => w.completed.get(kind) ?? 0));
  }

  /** Resolves true once every subscriber has applied an event of `kind` with at least `sequence`; false on timeout. */
  untilApplied(kind: string, sequence: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = (result: boolean): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(result);
      };
      const check = (): void => {
        if (this.completedEverywhere(kind) >= sequence) finish(true);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }

  /** Forgets the samples and drop counts gathered so far (the warm-up's). */
  reset(): void {
    this.#broadcast({ type: 'reset' });
  }

  async report(): Promise<PoolReport> {
    const reports = await Promise.all(
      this.#workers.map(
        (w) =>
          new Promise<WorkerReport>((resolve) => {
            w.reportWaiter = resolve;
            w.child.send({ type: 'report' } satisfies ToWorker);
          }),
      ),
    );
    const samples: Record<string, number[]> = {};
    const dropped: Record<string, number> = {};
    for (const r of reports) {
      for (const [label, list] of Object.entries(r.samples)) {
        const into = (samples[label] ??= []);
        for (const ms of list) into.push(ms);
      }
      for (const [reason, n] of Object.entries(r.dropped)) dropped[reason] = (dropped[reason] ?? 0) + n;
    }
    return { samples, dropped };
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.#workers.map((w) => {
        if (w.child.exitCode !== null || w.child.signalCode !== null) return Promise.resolve();
        const exited = new Promise<void>((resolve) => w.child.once('exit', () => resolve()));
        w.child.send({ type: 'stop' } satisfies ToWorker);
        return exited;
      }),
    );
  }

  #broadcast(message: ToWorker): void {
    for (const w of this.#workers) w.child.send(message);
  }
}
