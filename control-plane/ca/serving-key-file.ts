import { readFile } from 'node:fs/promises';
import type { Logger } from '../../common/logger.ts';
import { decodePrivateKeyPem, privateKeyPem } from './key-file.ts';
import { replaceFile } from './replace-file.ts';

/**
 * Data dirs made before issue 21 hold the control plane's init-time key (control-plane/key.pem) in plain PKCS#8:
 * with svid.pem it signs events every sidecar trusts. Encrypts it in place with the CA passphrase (one rename, so
 * a crash leaves the old or the new file). A missing file or an already encrypted one is left alone.
 */
export async function encryptPlainServingKey(path: string, passphrase: string, logger: Logger): Promise<boolean> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  if (!pem.trimStart().startsWith('-----BEGIN PRIVATE KEY-----')) return false;
  const key = decodePrivateKeyPem(pem, path);
  await replaceFile(path, privateKeyPem(key, { passphrase }), 0o600);
  logger.warn(
    { file: path },
    'the control-plane key was stored unencrypted; it is now encrypted with the CA passphrase',
  );
  return true;
}
