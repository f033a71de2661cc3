import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { ensureSystemPackages } from './system-packages.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SOURCE_DIR = join(ROOT, 'bench', 'go-client');
const CACHE_DIR = join(ROOT, 'node_modules', '.cache', 'sigil-bench');
const BUILD_TIMEOUT_MS = 180_000;

/**
 * The path of the Go load client, built from bench/go-client with Debian's golang-go (installed when missing) and
 * cached by a hash of its sources, so only the first run after a change pays for the build. Offline: the client
 * uses the standard library only and the build runs with GOPROXY=off.
 */
export function goLoadClientBinary(log: (line: string) => void = () => undefined): string {
  const go = ensureSystemPackages([{ purpose: 'the Go load client', command: 'go', packages: ['golang-go'] }], log).get(
    'go',
  ) as string;
  const hash = createHash('sha256');
  for (const name of readdirSync(SOURCE_DIR).sort()) hash.update(name).update(readFileSync(join(SOURCE_DIR, name)));
  const binary = join(CACHE_DIR, `go-load-client-${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(binary)) return binary;
  mkdirSync(CACHE_DIR, { recursive: true });
  const partial = `${binary}.${process.pid}.partial`;
  log('building the Go load client (bench/go-client)');
  try {
    execFileSync(go, ['build', '-trimpath', '-o', partial, '.'], {
      cwd: SOURCE_DIR,
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
      `could not build the Go load client with ${go}: ${stderr || (err as Error).message}`,
      { cause: err },
    );
  }
  renameSync(partial, binary);
  return binary;
}
