import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { ensureSystemPackages } from './system-packages.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE_DIR = join(ROOT, 'node_modules', '.cache', 'sigil-bench');
const BUILD_TIMEOUT_MS = 180_000;

/** The Go programs of bench/: the load client and the mTLS proxy peer. */
const PROGRAMS = {
  'go-client': { what: 'the Go load client', binaryName: 'go-load-client' },
  'go-proxy': { what: 'the Go mTLS proxy', binaryName: 'go-mtls-proxy' },
} as const;

export type GoProgram = keyof typeof PROGRAMS;

/**
 * The path of a Go program of bench/ (`bench/<program>`), built with Debian's golang-go (installed when missing)
 * and cached under node_modules/.cache by a hash of its sources, so only the first run after a change pays for the
 * build. Offline: the programs use the standard library only and the build runs with GOPROXY=off.
 */
export function goBinary(program: GoProgram, log: (line: string) => void = () => undefined): string {
  const { what, binaryName } = PROGRAMS[program];
  const sourceDir = join(ROOT, 'bench', program);
  const go = ensureSystemPackages([{ purpose: what, command: 'go', packages: ['golang-go'] }], log).get('go') as string;
  const hash = createHash('sha256');
  for (const name of readdirSync(sourceDir).sort()) hash.update(name).update(readFileSync(join(sourceDir, name)));
  const binary = join(CACHE_DIR, `${binaryName}-${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(binary)) return binary;
  mkdirSync(CACHE_DIR, { recursive: true });
  const partial = `${binary}.${process.pid}.partial`;
  log(`building ${what} (bench/${program})`);
  try {
    execFileSync(go, ['build', '-trimpath', '-o', partial, '.'], {
      cwd: sourceDir,
      timeout: BUILD_TIMEOUT_MS,
      killSignal: 'SIGKILL',
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        GOPROXY: 'off',
        GOFLAGS: '-mod=mod',
        CGO_ENABLED: '0',
        GOCACHE:
          process.env.GOCACHE ?? join(process.env.HOME ? join(process.env.HOME, '.cache') : tmpdir(), 'go-build'),
      },
    });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new SigilError(
      ErrorCode.UNAVAILABLE,
      `could not build ${what} with ${go}: ${stderr || (err as Error).message}`,
      { cause: err },
    );
  }
  renameSync(partial, binary);
  return binary;
}

/** The Go load client (bench/go-client). */
export function goLoadClientBinary(log: (line: string) => void = () => undefined): string {
  return goBinary('go-client', log);
}
