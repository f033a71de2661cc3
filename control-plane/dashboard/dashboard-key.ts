import { createPrivateKey, type KeyObject, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import { decodePrivateKeyPem, privateKeyPem } from '../ca/key-file.ts';
import { replaceFile } from '../ca/replace-file.ts';
import { writeNewFile } from '../ca/write-new-file.ts';
import { refuseOpenKeyFiles } from '../file-modes.ts';

export const DASHBOARD_KEY_FILE = 'dashboard-session.key';

/**
 * PKCS#8 of an X25519 private key, up to its 32 key bytes: the session key is kept as such a key so it is encrypted
 * exactly like the CA and serving keys (encrypted PKCS#8 PEM under the CA passphrase). Any 32 bytes are a valid
 * X25519 private key and come back unchanged, so a key made before it was encrypted keeps its sessions.
 */
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

const asKeyObject = (secret: Buffer): KeyObject =>
  createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, secret]), format: 'der', type: 'pkcs8' });

function secretOf(key: KeyObject, path: string): Buffer {
  const d = key.asymmetricKeyType === 'x25519' ? (key.export({ format: 'jwk' }) as { d?: string }).d : undefined;
  if (d === undefined)
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      `${path} is not a dashboard session key: delete it to make a new one (this signs every dashboard session out)`,
    );
  return Buffer.from(d, 'base64url');
}

/** The file's text for a key: encrypted with the CA passphrase, or plain when the CA runs without one (PKCS#11). */
const pemOf = (secret: Buffer, passphrase: string) =>
  privateKeyPem(asKeyObject(secret), passphrase === '' ? {} : { passphrase });

/**
 * The key dashboard sessions are MAC'd with: 32 random bytes in this control plane's data directory (0600), made
 * on first start and encrypted at rest with the CA passphrase like the other long-lived keys. Sessions survive
 * restarts and mean nothing to another control plane; deleting the file signs every browser out. A key stored plain
 * (before it was encrypted) is encrypted in place, keeping its sessions.
 */
export async function loadDashboardKey(dataDir: string, passphrase: string, logger: Logger): Promise<Buffer> {
  const path = join(dataDir, DASHBOARD_KEY_FILE);
  await refuseOpenKeyFiles([path]);
  let stored: Buffer | undefined;
  try {
    stored = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (stored === undefined) {
    const secret = randomBytes(32);
    try {
      await writeNewFile(path, pemOf(secret, passphrase), 0o600);
      return secret;
    } catch (err) {
      // Another replica sharing this directory made it first: use theirs.
      if ((err as { cause?: NodeJS.ErrnoException }).cause?.code !== 'EEXIST') throw err;
      stored = await readFile(path);
    }
  }
  const text = stored.toString('latin1');
  if (!text.startsWith('-----BEGIN')) {
    if (stored.length !== 32)
      throw new SigilError(
        ErrorCode.CONFIG_INVALID,
        `${path} is not a dashboard session key (${stored.length} bytes, not 32): delete it to make a new one (this signs every dashboard session out)`,
      );
    return sealPlain(path, stored, passphrase, logger);
  }
  const secret = secretOf(decodePrivateKeyPem(text, path, passphrase === '' ? {} : { passphrase }), path);
  if (passphrase !== '' && text.startsWith('-----BEGIN PRIVATE KEY-----'))
    return sealPlain(path, secret, passphrase, logger);
  return secret;
}

/** Encrypts a plain key file in place (one rename: a crash leaves the old or the new file). */
async function sealPlain(path: string, secret: Buffer, passphrase: string, logger: Logger): Promise<Buffer> {
  if (passphrase === '') return secret;
  await replaceFile(path, pemOf(secret, passphrase), 0o600);
  logger.warn(
    { file: path },
    'the dashboard session key was stored unencrypted; it is now encrypted with the CA passphrase',
  );
  return secret;
}
