import { createPrivateKey, createPublicKey, KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { classifyPublicKey, type KeyType } from '../../common/key-type.ts';
import { keyAlgorithm, keyObjectFacts } from '../../common/key-pair.ts';
import { writeNewFile } from './write-new-file.ts';

const ENCRYPTED_LABEL = '-----BEGIN ENCRYPTED PRIVATE KEY-----';
const PASSPHRASE_HINT = 'check SIGIL_CA_PASSPHRASE or --passphrase-file';

export interface PrivateKeyFileOptions {
  /** When set, the key is stored as encrypted PKCS#8 (AES-256-CBC); CA keys always pass one. */
  readonly passphrase?: string;
}

export interface ReadPrivateKeyOptions extends PrivateKeyFileOptions {
  /** Loaded keys are non-extractable unless asked: the CA only needs to sign with them. */
  readonly extractable?: boolean;
}

export function toKeyObject(key: CryptoKey): KeyObject {
  return KeyObject.from(key);
}

/** Imports a private KeyObject as a WebCrypto signing key; the key policy decides the algorithm. */
export function toCryptoKey(key: KeyObject, options: { extractable?: boolean } = {}): CryptoKey {
  const type = privateKeyType(key);
  return key.toCryptoKey(keyAlgorithm(type), options.extractable ?? false, ['sign']);
}

export function privateKeyType(key: KeyObject): KeyType {
  return classifyPublicKey(keyObjectFacts(key));
}

/** The DER SPKI of a private key's public half: lets a loader check that a key belongs to a certificate. */
export function publicSpkiOf(key: KeyObject): Uint8Array {
  return new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' }));
}

/** PKCS#8 PEM of a private key, encrypted when a passphrase is given. */
export function privateKeyPem(key: CryptoKey | KeyObject, options: PrivateKeyFileOptions = {}): string {
  const keyObject = key instanceof KeyObject ? key : toKeyObject(key);
  if (options.passphrase === undefined) {
    return keyObject.export({ format: 'pem', type: 'pkcs8' }) as string;
  }
  if (options.passphrase === '') {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `the CA passphrase is empty: ${PASSPHRASE_HINT.replace('check', 'set')}`,
    );
  }
  return keyObject.export({
    format: 'pem',
    type: 'pkcs8',
    cipher: 'aes-256-cbc',
    passphrase: options.passphrase,
  }) as string;
}

/** Writes a new key file with mode 0600; fails if the file exists. */
export async function writePrivateKeyFile(
  path: string,
  key: CryptoKey | KeyObject,
  options: PrivateKeyFileOptions = {},
): Promise<void> {
  await writeNewFile(path, privateKeyPem(key, options), 0o600);
}

/**
 * Decodes a PKCS#8 PEM private key. An encrypted key that the passphrase does not open (or that comes without
 * one) is CA_PASSPHRASE; anything else unreadable is CA_INVALID. `source` names the file in messages.
 */
export function decodePrivateKeyPem(pem: string, source: string, options: PrivateKeyFileOptions = {}): KeyObject {
  const encrypted = pem.trimStart().startsWith(ENCRYPTED_LABEL);
  if (encrypted && (options.passphrase === undefined || options.passphrase === '')) {
    throw new SigilError(
      ErrorCode.CA_PASSPHRASE,
      `${source} is encrypted and no CA passphrase was given: ${PASSPHRASE_HINT}`,
    );
  }
  try {
    return createPrivateKey(
      encrypted ? { key: pem, format: 'pem', passphrase: options.passphrase } : { key: pem, format: 'pem' },
    );
  } catch (err) {
    // Only a failed decryption can be the passphrase; a file that does not even decode is damaged (issue 21).
    if (encrypted && (err as NodeJS.ErrnoException).code === 'ERR_OSSL_BAD_DECRYPT') {
      throw new SigilError(
        ErrorCode.CA_PASSPHRASE,
        `the CA passphrase does not decrypt ${source}: ${PASSPHRASE_HINT}`,
        { cause: err },
      );
    }
    if (encrypted) {
      throw new SigilError(
        ErrorCode.CA_INVALID,
        `${source} is damaged: it is not a readable encrypted PKCS#8 key whatever the passphrase; restore it from a backup`,
        { cause: err },
      );
    }
    throw new SigilError(
      ErrorCode.CA_INVALID,
      `${source} does not hold a PEM private key: restore it from a backup or create a new CA`,
      { cause: err },
    );
  }
}

export async function readPrivateKeyObject(path: string, options: PrivateKeyFileOptions = {}): Promise<KeyObject> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new SigilError(ErrorCode.CA_MISSING, `key file ${path} does not exist`, { cause: err });
    }
    if (code === 'EISDIR') {
      throw new SigilError(ErrorCode.CA_INVALID, `key file ${path} is a directory: restore the key file`, {
        cause: err,
      });
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new SigilError(
        ErrorCode.CA_INVALID,
        `key file ${path} cannot be read by this user (uid ${process.getuid?.() ?? '?'}): make it owned by the user that runs Sigil, mode 0600`,
        { cause: err },
      );
    }
    throw err;
  }
  return decodePrivateKeyPem(pem, path, options);
}

/** Reads a key file as a WebCrypto signing key. */
export async function readPrivateKeyFile(path: string, options: ReadPrivateKeyOptions = {}): Promise<CryptoKey> {
  const keyObject = await readPrivateKeyObject(path, options);
  return toCryptoKey(keyObject, { extractable: options.extractable ?? false });
}
