import type { ChildProcess } from 'node:child_process';
import { ErrorCode, SigilError } from '../../common/errors.ts';

/**
 * The child processes of one benchmark run, so that a deadline or an exit of the benchmark never leaves a
 * nats-server, control plane or subscriber process behind. Only processes this run spawned are ever signalled.
 */
export class ChildProcesses {
  readonly #children = new Set<ChildProcess>();
  readonly #onExit = (): void => this.killAll();

  constructor() {
    process.once('exit', this.#onExit);
  }

  track<T extends ChildProcess>(child: T): T {
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** SIGKILL to every child still running: used when the run has already failed, so no graceful stop is owed. */
  killAll(): void {
    for (const child of this.#children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    this.#children.clear();
  }

  dispose(): void {
    this.killAll();
    process.off('exit', this.#onExit);
  }
}

/**
 * Runs `run` under a wall-clock bound. On expiry every tracked child is killed and the promise rejects with
 * DEADLINE_EXCEEDED; whatever `run` was awaiting then fails on its own and is ignored. On success or failure the
 * children are disposed of either way.
 */
export async function withDeadline<T>(
  what: string,
  deadlineMs: number,
  run: (children: ChildProcesses) => Promise<T>,
): Promise<T> {
  const children = new ChildProcesses();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      children.killAll();
      reject(
        new SigilError(
          ErrorCode.DEADLINE_EXCEEDED,
          `${what} did not finish within ${Math.round(deadlineMs / 1000)} s, so its child processes were killed: try fewer subscribers or events, or a longer deadline`,
        ),
      );
    }, deadlineMs);
  });
  const running = run(children);
  running.catch(() => undefined);
  try {
    return await Promise.race([running, expired]);
  } finally {
    clearTimeout(timer);
    children.dispose();
  }
}
