import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { writeNewFile } from '../ca/write-new-file.ts';
import { refuseOpenKeyFiles } from '../file-modes.ts';

export const DASHBOARD_KEY_FILE = 'dashboard-session.key';

/**
 * The key dashboard sessions are MAC'd with: 32 random bytes in this control plane's data directory (0600), made
 * on first start. Sessions survive restarts and mean nothing to another control plane; deleting the file signs
 * every browser out.
 */
export async function loadDashboardKey(dataDir: string): Promise<Buffer> {
  const path = join(dataDir, DASHBOARD_KEY_FILE);
  await refuseOpenKeyFiles([path]);
  try {
    const key = await readFile(path);
    if (key.length !== 32)
      throw new SigilError(
        ErrorCode.CONFIG_INVALID,
        `${path} is not a dashboard session key (${key.length} bytes, not 32): delete it to make a new one (this signs every dashboard session out)`,
      );
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = randomBytes(32);
  try {
    await writeNewFile(path, key, 0o600);
  } catch (err) {
    // Another replica sharing this directory made it first: use theirs.
    const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
    if (cause?.code === 'EEXIST') return readFile(path);
    throw err;
  }
  return key;
}
