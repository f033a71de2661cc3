import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { freeLoopbackPort } from './free-port.ts';

/** A private nats-server on 127.0.0.1 for one benchmark run. */
export interface BenchNatsServer {
  readonly url: string;
  readonly pid: number;
  /** SIGTERM, resolved once the process has exited. Idempotent. */
  stop(): Promise<void>;
}

function natsServerBinary(): string {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'].filter(
    (d) => d !== '',
  );
  for (const dir of dirs) {
    const candidate = join(dir, 'nats-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new SigilError(
    ErrorCode.UNAVAILABLE,
    'nats-server is not on PATH or in /usr/sbin: install it (`apt-get install nats-server`)',
  );
}

/** Resolves once the server logs that it is ready; rejects with its output if it exits first. */
function untilReady(child: ChildProcess): Promise<void> {
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: string): void => {
      output += chunk;
      if (!output.includes('Server is ready')) return;
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      resolve();
    };
    const onExit = (code: number | null): void => {
      reject(new SigilError(ErrorCode.UNAVAILABLE, `nats-server exited (${code}) before it was ready:\n${output}`));
    };
    child.stdout?.setEncoding('utf8').on('data', onData);
    child.stderr?.setEncoding('utf8').on('data', onData);
    child.once('error', reject);
    child.once('exit', onExit);
  });
}

/**
 * `onSpawn` sees the process at once, so a caller's deadline can kill it even while it is starting; `extraArgs` go
 * to nats-server as they are (a monitoring port, say).
 */
export async function startBenchNatsServer(
  onSpawn: (child: ChildProcess) => void = () => undefined,
  extraArgs: readonly string[] = [],
): Promise<BenchNatsServer> {
  const binary = natsServerBinary();
  const port = await freeLoopbackPort();
  const child = spawn(binary, ['-a', '127.0.0.1', '-p', String(port), ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  onSpawn(child);
  await untilReady(child);
  // Keep draining its output so a chatty server can never block on a full pipe.
  child.stdout?.resume();
  child.stderr?.resume();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url: `nats://127.0.0.1:${port}`,
    pid: child.pid ?? 0,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
