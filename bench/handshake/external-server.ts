import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { ChildProcesses } from '../lib/child-processes.ts';
import { pinned } from './cpu-pinning.ts';

const READY_TIMEOUT_MS = 15_000;
const POLL_MS = 50;

export interface ExternalServer {
  readonly pid: number;
  /** The server's process and its children (nginx's worker), whose CPU is the server's. */
  pids(): number[];
  stop(): Promise<void>;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Children of a process from /proc (needs CONFIG_PROC_CHILDREN, present on common kernels; [] otherwise). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Starts a server that is not Node (nginx, HAProxy) in the foreground on `cpus`, and resolves once it accepts TCP
 * connections on `port`. Such servers cannot tell the harness they are ready, so the port is polled; it rejects if
 * the process exits first or is not listening within 15 s. stderr goes to ours so their complaints are visible.
 */
export async function startExternalServer(
  what: string,
  argv: readonly string[],
  options: { port: number; cpus: string | undefined; children: ChildProcesses },
): Promise<ExternalServer> {
  const { command, args } = pinned(options.cpus, argv);
  const child = options.children.track(spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] }));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let failure: Error | undefined;
  child.once('error', (err) => {
    failure = err;
  });
  const deadline = performance.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (failure)
      throw new SigilError(ErrorCode.UNAVAILABLE, `${what} could not be spawned (${command}): ${failure.message}`);
    if (child.exitCode !== null || child.signalCode !== null)
      throw new SigilError(
        ErrorCode.UNAVAILABLE,
        `${what} exited (${child.exitCode ?? child.signalCode}) before listening; its errors are above`,
      );
    if (await accepts(options.port)) break;
    if (performance.now() > deadline) {
      child.kill('SIGKILL');
      throw new SigilError(
        ErrorCode.UNAVAILABLE,
        `${what} was not listening on 127.0.0.1:${options.port} within ${READY_TIMEOUT_MS / 1000} s`,
      );
    }
    await sleep(POLL_MS);
  }
  const pid = child.pid ?? 0;
  return {
    pid,
    pids: () => [pid, ...childrenOf(pid)],
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}
