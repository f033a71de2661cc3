import { type FileHandle, open } from 'node:fs/promises';
import { ErrorCode, SigilError } from '../../common/errors.ts';

/**
 * Creates `path` with `mode` and writes `data`, refusing to touch an existing file ('wx'): key and CA files are
 * never silently replaced. The mode is set at creation, so the content is never readable under a wider mode.
 */
export async function writeNewFile(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'wx', mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new SigilError(
        ErrorCode.INVALID_ARGUMENT,
        `${path} already exists: refusing to overwrite it; move it away deliberately or choose another path`,
        { cause: err },
      );
    }
    throw err;
  }
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
