import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

/**
 * Which cores the server and the load clients run on. With `taskset` and at least two cores the server gets core 0
 * and the clients every other core, so the client never steals the server's CPU; otherwise nothing is pinned and
 * the report says so.
 */
export interface CpuPinning {
  readonly serverCpus: string | undefined;
  readonly clientCpus: string | undefined;
  readonly note: string;
}

export function detectPinning(): CpuPinning {
  const cores = availableParallelism();
  if (cores < 2) return { serverCpus: undefined, clientCpus: undefined, note: `not pinned: ${cores} core available` };
  const probe = spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0)
    return { serverCpus: undefined, clientCpus: undefined, note: 'not pinned: taskset is missing or not permitted' };
  const clientCpus = cores === 2 ? '1' : `1-${cores - 1}`;
  return { serverCpus: '0', clientCpus, note: `server on core 0, clients on ${clientCpus} (taskset)` };
}

/** The command line that runs `argv` on `cpus` (unpinned when undefined). taskset execs, so the pid is the program's. */
export function pinned(cpus: string | undefined, argv: readonly string[]): { command: string; args: string[] } {
  const [command, ...args] = argv as [string, ...string[]];
  return cpus === undefined ? { command, args } : { command: 'taskset', args: ['-c', cpus, command, ...args] };
}
