import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, SigilError } from '../../common/errors.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The commit measured, marked `(modified)` when tracked files other than bench/results/ differ from it. */
export function commitOf(): string {
  const git = (args: string[]) =>
    execFileSync('git', args, {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' },
    }).trim();
  try {
    // Results files are rewritten by the runs themselves: only a change to anything else makes the code differ.
    return `${git(['rev-parse', '--short', 'HEAD'])}${git(['status', '--porcelain', '--untracked-files=no', '--', '.', ':!bench/results']) ? ' (modified)' : ''}`;
  } catch {
    return 'unknown';
  }
}

/** What a results file records about where and on what it was measured. */
export interface MachineInfo {
  readonly commit: string;
  readonly node: string;
  readonly openssl: string;
  readonly cores: number;
  readonly cpuModel: string;
}

/** The header every comparison results file starts with. */
export interface RunHeader extends MachineInfo {
  readonly date: string;
  readonly pinning: string;
  readonly targets: readonly { readonly name: string; readonly description: string }[];
  readonly baseline: string;
}

export function machineInfo(): MachineInfo {
  return {
    commit: commitOf(),
    node: process.versions.node,
    openssl: process.versions.openssl,
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
  };
}

export function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new SigilError(ErrorCode.INVALID_ARGUMENT, `${name} must be a positive number, got ${value}`);
  return value;
}
