import { lstatSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { ErrorCode, SigilError } from '../common/errors.ts';

// Issue 21 item 11: a data directory others can write to lets them swap keys, certificates or the store; a key file
// others can read gives its key away. Both are refused at start with the command that fixes them.

/** Bits that let users other than the owner write into (or replace entries of) a directory. */
const DIR_WRITABLE_BY_OTHERS = 0o022;
/** Any access by group or others to a private key file; 0600 and 0400 pass. */
const KEY_OPEN_TO_OTHERS = 0o077;

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

function modeOf(stat: { mode: number } | undefined): number | undefined {
  return stat === undefined ? undefined : stat.mode & 0o777;
}

function missingIsUndefined(err: unknown): undefined {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw err;
}

function dirError(path: string, mode: number): SigilError {
  return new SigilError(
    ErrorCode.CONFIG_INVALID,
    `data directory ${path} has mode ${octal(mode)}: users other than its owner can write into it and replace keys or the store; run \`chmod 0700 ${path}\` and start again`,
  );
}

function keyError(path: string, mode: number): SigilError {
  return new SigilError(
    ErrorCode.CONFIG_INVALID,
    `private key file ${path} has mode ${octal(mode)}: users other than its owner can read it (it must be 0600 or 0400); run \`chmod 0600 ${path}\`, and replace the key if others may have read it`,
  );
}

/** Refuses a directory that group or others can write to. A missing directory passes (it is created 0700). */
export async function refuseUnsafeDataDir(path: string): Promise<void> {
  const mode = modeOf(await lstat(path).catch(missingIsUndefined));
  if (mode !== undefined && (mode & DIR_WRITABLE_BY_OTHERS) !== 0) throw dirError(path, mode);
}

/** Refuses private key files that group or others may access. Missing files pass: whoever reads them reports that. */
export async function refuseOpenKeyFiles(paths: readonly string[]): Promise<void> {
  for (const path of paths) {
    const mode = modeOf(await lstat(path).catch(missingIsUndefined));
    if (mode !== undefined && (mode & KEY_OPEN_TO_OTHERS) !== 0) throw keyError(path, mode);
  }
}

/** refuseOpenKeyFiles for synchronous readers (the admin client reads its credentials synchronously). */
export function refuseOpenKeyFileSync(path: string): void {
  let stat: { mode: number } | undefined;
  try {
    stat = lstatSync(path);
  } catch (err) {
    missingIsUndefined(err);
  }
  const mode = modeOf(stat);
  if (mode !== undefined && (mode & KEY_OPEN_TO_OTHERS) !== 0) throw keyError(path, mode);
}
