import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * The `sigil` command as `npx sigil` runs it: the package's own launcher (package.json "bin"), on the Node running
 * the demo, which `npm run demo` makes the pinned one.
 */
export function sigilLauncher(root = REPO_ROOT): { node: string; script: string } {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin?: Record<string, string> };
  const bin = pkg.bin?.['sigil'];
  if (bin === undefined) throw new Error('package.json has no "bin.sigil"');
  return { node: process.execPath, script: join(root, bin) };
}

/** Where Debian and others install nats-server besides PATH (Debian's package puts it in /usr/sbin). */
export const SYSTEM_BIN_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/usr/bin', '/sbin', '/opt/nats'];

/** The nats-server binary on PATH or in the system directories, or undefined. */
export function findNatsServer(
  path = process.env['PATH'] ?? '',
  systemDirs: readonly string[] = SYSTEM_BIN_DIRS,
): string | undefined {
  for (const dir of [...path.split(delimiter), ...systemDirs]) {
    if (dir === '') continue;
    const candidate = join(dir, 'nats-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A loopback port nothing listens on right now (the process it is meant for binds it moments later). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', done);
  });
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
  /** When the command was started and when it had exited (epoch ms). */
  readonly startedAt: number;
  readonly endedAt: number;
}

/** Runs a command to completion; rejects with its output when it exits with a code not in `okExitCodes` ([0]). */
export function runCommand(
  command: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; okExitCodes?: readonly number[] },
): Promise<CommandResult> {
  const startedAt = Date.now();
  return new Promise((done, fail) => {
    const child = spawn(command, [...args], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    child.once('error', fail);
    child.once('close', (code) => {
      if ((options.okExitCodes ?? [0]).includes(code ?? -1))
        done({ stdout, stderr, code: code ?? 0, startedAt, endedAt: Date.now() });
      else fail(new Error(`${[command, ...args].join(' ')} exited ${code}:\n${stderr}${stdout}`));
    });
  });
}
