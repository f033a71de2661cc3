import { lstat, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ErrorCode, SigilError } from '../../common/errors.ts';

function refuse(message: string): never {
  throw new SigilError(ErrorCode.WORKLOAD_API_SOCKET, message);
}

/**
 * Checks where the Workload API socket will be made, before anything is created: the directory must exist and must
 * not be world-writable (anyone could replace the socket with their own and hand the workload a false identity).
 * A socket left by an earlier run is removed; any other file at the path is refused, never overwritten.
 */
export async function prepareSocketPath(path: string): Promise<void> {
  const dir = dirname(path);
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(dir);
  } catch {
    refuse(
      `the Workload API socket directory ${dir} does not exist: create it (e.g. mkdir -m 0755 ${dir}) or change workloadApi.socket`,
    );
  }
  if (!info.isDirectory()) refuse(`${dir} (the Workload API socket directory) is not a directory`);
  if ((info.mode & 0o002) !== 0)
    refuse(
      `the Workload API socket directory ${dir} is world-writable (mode ${(info.mode & 0o7777).toString(8)}): any user could put their own socket there; use a directory only the sidecar can write to`,
    );
  try {
    const existing = await lstat(path);
    if (!existing.isSocket())
      refuse(`${path} exists and is not a socket: remove it or choose another workloadApi.socket`);
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** `"0660"` → 0o660; anything but three or four octal digits is refused. */
export function parseSocketMode(text: string): number {
  if (!/^0?[0-7]{3}$/.test(text)) refuse(`workloadApi.mode ${JSON.stringify(text)} must be octal like "0660"`);
  return Number.parseInt(text, 8);
}
