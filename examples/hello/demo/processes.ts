import { spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LogFile } from './log-file.ts';

/** Set in every process the demo starts: `--stop` stops a pid only if it still carries the demo's state dir. */
export const STATE_DIR_ENV = 'SIGIL_DEMO_STATE_DIR';
const PID_FILE = 'demo.pids.json';

export interface PidEntry {
  readonly name: string;
  readonly pid: number;
}

export interface DemoProcess extends PidEntry {
  readonly log: LogFile;
  alive(): boolean;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether `pid` is still one of this demo's processes. On Linux its environment says so; a pid reused by an
 * unrelated process since the demo started is left alone. Elsewhere the pid file is all there is to go on.
 */
function isDemoProcess(pid: number, stateDir: string): boolean {
  if (!isAlive(pid)) return false;
  const environ = `/proc/${pid}/environ`;
  if (!existsSync('/proc/self/environ')) return true;
  try {
    return readFileSync(environ, 'utf8').split('\0').includes(`${STATE_DIR_ENV}=${stateDir}`);
  } catch {
    return false;
  }
}

export function readPidFile(stateDir: string): PidEntry[] {
  try {
    return JSON.parse(readFileSync(join(stateDir, PID_FILE), 'utf8')) as PidEntry[];
  } catch {
    return [];
  }
}

/** The demo processes of `stateDir` that are still running. */
export function runningDemoProcesses(stateDir: string): PidEntry[] {
  return readPidFile(stateDir).filter((p) => isDemoProcess(p.pid, stateDir));
}

/**
 * Stops exactly the processes listed in the state dir's pid file, newest first and one at a time (the apps and
 * sidecars, then the control plane, NATS last, so nothing loses its server while stopping): SIGTERM, then SIGKILL
 * for one still there after `graceMs`. Resolves once all are gone.
 */
export async function stopDemoProcesses(stateDir: string, graceMs = 10_000): Promise<PidEntry[]> {
  const running = runningDemoProcesses(stateDir).reverse();
  for (const p of running) await stopPid(p.pid, graceMs);
  return running;
}

/** Not our child (with --stop the demo that started it has exited): all there is to watch is the pid. */
async function stopPid(pid: number, graceMs: number): Promise<void> {
  if (!isAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) process.kill(pid, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Starts long-running processes detached, in their own process group, with their output in
 * `<stateDir>/logs/<name>.log`: nothing ties them to the demo's terminal or pipes, so `--keep` can leave them
 * running and `--stop` (a later run) can stop them by the pids recorded in the pid file.
 */
export class DemoProcesses {
  readonly stateDir: string;
  readonly #env: NodeJS.ProcessEnv;

  constructor(stateDir: string, env: NodeJS.ProcessEnv) {
    this.stateDir = stateDir;
    this.#env = { ...env, [STATE_DIR_ENV]: stateDir };
  }

  logPath(name: string): string {
    return join(this.stateDir, 'logs', `${name}.log`);
  }

  start(name: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): DemoProcess {
    const path = this.logPath(name);
    const fd = openSync(path, 'a', 0o600);
    try {
      const offset = fstatSync(fd).size;
      const child = spawn(command, [...args], {
        cwd: this.stateDir,
        env: { ...this.#env, ...env },
        detached: true,
        stdio: ['ignore', fd, fd],
      });
      if (child.pid === undefined) throw new Error(`could not start ${command}`);
      child.unref();
      const pid = child.pid;
      writeFileSync(
        join(this.stateDir, PID_FILE),
        `${JSON.stringify([...readPidFile(this.stateDir), { name, pid }])}\n`,
      );
      let exited = false;
      child.once('exit', () => {
        exited = true;
      });
      return { name, pid, log: new LogFile(path, offset), alive: () => !exited };
    } finally {
      closeSync(fd);
    }
  }

  /** Stops one process and forgets it (a sidecar restarted with a new identity). */
  async stop(p: PidEntry): Promise<void> {
    await stopPid(p.pid, 10_000);
    const rest = readPidFile(this.stateDir).filter((e) => e.pid !== p.pid);
    writeFileSync(join(this.stateDir, PID_FILE), `${JSON.stringify(rest)}\n`);
  }
}
