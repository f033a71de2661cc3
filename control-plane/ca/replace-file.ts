import { randomBytes } from 'node:crypto';
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Replaces `path` in one rename after the new content is on disk, so a reader (or a crash) sees the old file or the
 * new one, never half of one. The mode is set at creation: a key is never readable under a wider mode.
 */
export async function replaceFile(path: string, data: string, mode: number): Promise<void> {
  // A name of its own per call: two replacements of one file may overlap (a bundle change during a rotation step).
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
  await syncDirectory(dirname(path));
}

/** Makes renames and links in `dir` durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
