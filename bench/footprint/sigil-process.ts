import { spawn } from 'node:child_process';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { ChildProcesses } from '../lib/child-processes.ts';
import { HEAP_PROBE } from './process-memory.ts';

export interface SigilProcess {
  readonly pid: number;
  /** Spawn to the log line that says it serves, milliseconds. */
  readonly readyMs: number;
  /** That log line's fields (listen addresses). */
  readonly started: Record<string, unknown>;
  readonly probeFile: string;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;

/**
 * Runs `node --import heap-probe.js <entry> <args>` (the compiled CLI, as the Docker image does) and resolves once it
 * logs `readyMessage` on stdout (JSON lines). Rejects, with its stderr, if it exits first or takes over a minute.
 */
export function startSigilProcess(
  entry: string,
  args: readonly string[],
  options: {
    readyMessage: string;
    cwd: string;
    env: Record<string, string>;
    probeFile: string;
    children: ChildProcesses;
    /** Node options before the entry (V8 flags such as --max-semi-space-size). */
    nodeFlags?: readonly string[];
  },
): Promise<SigilProcess> {
  const startedAt = performance.now();
  const child = options.children.track(
    spawn(process.execPath, [...(options.nodeFlags ?? []), '--import', HEAP_PROBE, entry, ...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env, SIGIL_HEAP_PROBE_FILE: options.probeFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new SigilError(ErrorCode.DEADLINE_EXCEEDED, `${entry} ${args.join(' ')} was not ready within 60 s`));
    }, READY_TIMEOUT_MS);
    let partial = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const text of lines) {
        let line: Record<string, unknown>;
        try {
          line = JSON.parse(text) as Record<string, unknown>;
        } catch {
          continue;
        }
        if (line['msg'] !== options.readyMessage) continue;
        clearTimeout(timer);
        resolve({
          pid: child.pid ?? 0,
          readyMs: performance.now() - startedAt,
          started: line,
          probeFile: options.probeFile,
          async stop() {
            if (child.exitCode !== null || child.signalCode !== null) return;
            child.kill('SIGTERM');
            const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
            await exited;
            clearTimeout(kill);
          },
        });
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(
        new SigilError(ErrorCode.UNAVAILABLE, `${args.slice(0, 2).join(' ')} exited before it was ready:\n${stderr}`),
      );
    });
  });
}
