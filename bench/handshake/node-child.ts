import { spawn, type ChildProcess } from 'node:child_process';
import type { Server } from 'node:net';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { ChildProcesses } from '../lib/child-processes.ts';
import { pinned } from './cpu-pinning.ts';
import type { ChildFailed, TargetReady } from './protocol.ts';

export interface NodeChild<R> {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The child's first message, its `ready`. */
  readonly ready: R;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts `script` on the pinned Node (the one running this benchmark) with an IPC channel, on `cpus` when given, and
 * resolves with the child's `{ type: 'ready' }` message. Rejects if it reports `failed` or exits first. Its stdout
 * is discarded (the table owns ours); its stderr is passed through so its errors are visible.
 */
export async function startNodeChild<R extends { type: 'ready' }>(
  what: string,
  script: string,
  args: readonly string[],
  options: { cpus: string | undefined; children: ChildProcesses; env?: NodeJS.ProcessEnv },
): Promise<NodeChild<R>> {
  const { command, args: argv } = pinned(options.cpus, [process.execPath, script, ...args]);
  const child = options.children.track(
    spawn(command, argv, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: options.env ?? process.env }),
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<R>((resolve, reject) => {
    child.once('message', (message: R | ChildFailed) => {
      if (message.type === 'ready') resolve(message);
      else reject(new SigilError(ErrorCode.UNAVAILABLE, `${what} failed to start: ${message.message}`));
    });
    child.once('error', (err) =>
      reject(new SigilError(ErrorCode.UNAVAILABLE, `${what} could not be spawned (${command}): ${err.message}`)),
    );
    void exited.then(() =>
      reject(
        new SigilError(
          ErrorCode.UNAVAILABLE,
          `${what} exited (${child.exitCode ?? child.signalCode}) before it was ready; its errors are above`,
        ),
      ),
    );
  });
  return {
    child,
    pid: child.pid ?? 0,
    ready,
    async stop(graceMs = 3000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** For child entries: report a startup failure to the parent and exit; exit too when the parent goes away. */
export function childEntry(name: string, main: () => Promise<void>): void {
  process.once('disconnect', () => process.exit(0));
  main().catch((err: unknown) => {
    const message =
      err instanceof Error ? `${err instanceof SigilError ? `${err.code}: ` : ''}${err.message}` : String(err);
    process.stderr.write(`${name}: ${message}\n`);
    process.send?.({ type: 'failed', message } satisfies ChildFailed, () => process.exit(1));
  });
}

/** For server child entries: listens on a free loopback port, exits on SIGTERM, and sends the parent its `ready`. */
export async function serveOnLoopback(server: Server): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  process.once('SIGTERM', () => process.exit(0));
  process.send?.({ type: 'ready', host: '127.0.0.1', port: address.port } satisfies TargetReady);
}
