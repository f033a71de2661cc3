import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ErrorCode, SigilError } from '../../common/errors.ts';

/** A program a benchmark needs and the Debian packages that provide it. */
export interface SystemRequirement {
  /** What it is for, in the error message: 'the nginx baseline'. */
  readonly purpose: string;
  readonly command: string;
  readonly packages: readonly string[];
  /** An extra check once the command exists (a module file, say); returns why it is not enough, or undefined. */
  readonly missing?: () => string | undefined;
}

const INSTALL_TIMEOUT_MS = 240_000;

/** The absolute path of `command` on PATH (plus the sbin directories apt installs daemons into), or undefined. */
export function findCommand(command: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of [...path.split(delimiter), '/usr/sbin', '/sbin', '/usr/bin']) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function installHint(packages: readonly string[]): string {
  return `install it with \`sudo apt-get install -y ${packages.join(' ')}\` and run the benchmark again`;
}

type AptGet = (args: readonly string[]) => { ok: boolean; output: string };

/** How packages get installed; tests replace both. */
export interface InstallDeps {
  readonly isRoot: () => boolean;
  readonly aptGet: AptGet;
}

const aptGet: AptGet = (args) => {
  const result = spawnSync('apt-get', args, {
    encoding: 'utf8',
    timeout: INSTALL_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? `\n${result.error.message}` : ''}`;
  return { ok: result.status === 0, output };
};

const systemInstall: InstallDeps = {
  isRoot: () => typeof process.getuid !== 'function' || process.getuid() === 0,
  aptGet: (args) => (findCommand('apt-get') ? aptGet(args) : { ok: false, output: 'there is no apt-get here' }),
};

/**
 * Makes sure every requirement is met, installing missing Debian packages with apt-get (as root only, bounded to
 * four minutes per attempt, one `apt-get update` and retry on failure). Throws UNAVAILABLE naming the packages and
 * apt's last lines when that is not possible: a benchmark fails at once rather than hanging or silently dropping a
 * baseline. Returns the path of each command.
 */
export function ensureSystemPackages(
  requirements: readonly SystemRequirement[],
  log: (line: string) => void = () => undefined,
  deps: InstallDeps = systemInstall,
): Map<string, string> {
  const unmet = () => requirements.filter((r) => !findCommand(r.command) || r.missing?.() !== undefined);
  const missing = unmet();
  if (missing.length > 0) {
    const packages = [...new Set(missing.flatMap((r) => r.packages))];
    const what = missing.map((r) => r.purpose).join(', ');
    if (!deps.isRoot()) {
      throw new SigilError(
        ErrorCode.UNAVAILABLE,
        `${what} needs Debian packages that are not installed and this user is not root: ${installHint(packages)}`,
      );
    }
    log(`installing ${packages.join(' ')} with apt-get for ${what}`);
    let attempt = deps.aptGet(['install', '-y', '-q', '--no-install-recommends', ...packages]);
    if (!attempt.ok) {
      deps.aptGet(['update', '-q']);
      attempt = deps.aptGet(['install', '-y', '-q', '--no-install-recommends', ...packages]);
    }
    const still = unmet();
    if (!attempt.ok || still.length > 0) {
      const tail = attempt.output.trim().split('\n').slice(-5).join(' | ');
      const reasons = still.map((r) => r.missing?.() ?? `${r.command} not found`).join('; ');
      throw new SigilError(
        ErrorCode.UNAVAILABLE,
        `could not install ${packages.join(' ')} for ${what}${reasons ? ` (${reasons})` : ''}; apt-get said: ${tail || 'nothing'}. ${installHint(packages)}`,
      );
    }
  }
  return new Map(requirements.map((r) => [r.command, findCommand(r.command) as string]));
}
