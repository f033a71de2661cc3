import { createPrivateKey, createPublicKey, type KeyObject, sign as nodeSign } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { keyObjectFacts } from '../../common/key-pair.ts';
import { classifyPublicKey, type KeyType } from '../../common/key-type.ts';
import { type DigestName, nodeDigestName, OID } from './oids.ts';

/**
 * What code signing and the TSA need of a private key: its public half and a signature over bytes. A key file is
 * one implementation; a PKCS#11 token key (issue 16) is another, slotted in without touching the CMS or TSA code.
 * Implementations never expose key material and never put it in messages.
 */
export interface SigningKey {
  readonly keyType: KeyType;
  /** DER SubjectPublicKeyInfo of the public half: checked against the certificate before anything is signed. */
  readonly publicKeySpki: Uint8Array;
  /** Where the key lives, for messages and logs (a path, a token label): never the key. */
  readonly description: string;
  /**
   * Hashes `data` with `digest` and signs it. Returns the signature as CMS and X.509 carry it: a DER
   * ECDSA-Sig-Value for ECDSA, PKCS#1 v1.5 for RSA. `encoding: 'ieee-p1363'` asks for ECDSA's r‖s form instead
   * (what WebCrypto-based X.509 generators expect); RSA signatures have one form only.
   */
  sign(data: Uint8Array, digest: DigestName, encoding?: SignatureEncoding): Promise<Uint8Array>;
}

export type SignatureEncoding = 'der' | 'ieee-p1363';

export interface SignatureAlgorithm {
  readonly digest: DigestName;
  /** The signatureAlgorithm OID of a SignerInfo made with this key. */
  readonly signatureOid: string;
}

/** The digest follows the key's strength (SHA-384 for P-384), as for certificates. */
export function signatureAlgorithmOf(keyType: KeyType): SignatureAlgorithm {
  switch (keyType) {
    case 'ec-p256':
      return { digest: 'SHA-256', signatureOid: OID.ecdsaWithSha256 };
    case 'ec-p384':
      return { digest: 'SHA-384', signatureOid: OID.ecdsaWithSha384 };
    case 'rsa-2048':
    case 'rsa-3072':
    case 'rsa-4096':
      return { digest: 'SHA-256', signatureOid: OID.sha256WithRsa };
  }
}

/** A private key held in this process as a KeyObject (loaded from a file, or generated for a test). */
export function keyObjectSigningKey(key: KeyObject, description: string): SigningKey {
  if (key.type !== 'private') {
    throw new SigilError(ErrorCode.SIGNING_KEY, `${description} is not a private key: pass the signing key file`);
  }
  const keyType = classifyPublicKey(keyObjectFacts(key));
  const publicKeySpki = new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' }));
  return Object.freeze({
    keyType,
    publicKeySpki,
    description,
    sign: async (data: Uint8Array, digest: DigestName, encoding: SignatureEncoding = 'der') =>
      new Uint8Array(nodeSign(nodeDigestName(digest), data, { key, dsaEncoding: encoding })),
    toJSON: () => ({ keyType, description }),
  });
}

export interface KeyFileOptions {
  /** Decrypts an encrypted PKCS#8 key; an unencrypted key needs none. */
  readonly passphrase?: string;
}

const ENCRYPTED = '-----BEGIN ENCRYPTED PRIVATE KEY-----';
const PASSPHRASE_HINT = 'set SIGIL_SIGNING_KEY_PASSPHRASE or pass --passphrase-file';

/**
 * Loads a signing key from a PEM file. An unencrypted key must not be readable by group or others (mode 0600), since
 * the file is then the only protection the key has; an encrypted one needs its passphrase. Every refusal says what to
 * do and never quotes the file's content.
 */
export async function loadSigningKeyFile(path: string, options: KeyFileOptions = {}): Promise<SigningKey> {
  let pem: string;
  let mode: number;
  try {
    [pem, mode] = await Promise.all([readFile(path, 'utf8'), stat(path).then((s) => s.mode)]);
  } catch (err) {
    throw new SigilError(
      ErrorCode.SIGNING_KEY,
      `cannot read signing key ${path} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'}): check --key`,
      { cause: err },
    );
  }
  const encrypted = pem.trimStart().startsWith(ENCRYPTED);
  if (!encrypted && (mode & 0o077) !== 0) {
    throw new SigilError(
      ErrorCode.SIGNING_KEY,
      `signing key ${path} is unencrypted and readable by others (mode ${(mode & 0o777).toString(8)}): chmod 600 it, or store it encrypted`,
    );
  }
  if (encrypted && !options.passphrase) {
    throw new SigilError(ErrorCode.SIGNING_KEY, `signing key ${path} is encrypted: ${PASSPHRASE_HINT}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(encrypted ? { key: pem, format: 'pem', passphrase: options.passphrase } : pem);
  } catch (err) {
    // Only a failed decryption can be the passphrase; an encrypted file that does not even decode is damaged.
    const badDecrypt = (err as NodeJS.ErrnoException).code === 'ERR_OSSL_BAD_DECRYPT';
    throw new SigilError(
      ErrorCode.SIGNING_KEY,
      encrypted && badDecrypt
        ? `the passphrase does not decrypt signing key ${path}: ${PASSPHRASE_HINT}`
        : encrypted
          ? `signing key ${path} is damaged: it is not a readable encrypted PKCS#8 key whatever the passphrase; restore it from a backup`
          : `${path} does not hold a PEM private key: pass the key written by sigil signing cert --key-out`,
      { cause: err },
    );
  }
  return keyObjectSigningKey(key, path);
}

/** Refuses a key that is not the certificate's: signing would produce signatures nobody can verify. */
export function assertKeyMatchesCertificate(key: SigningKey, certificateSpki: Uint8Array, what: string): void {
  if (!Buffer.from(key.publicKeySpki).equals(Buffer.from(certificateSpki))) {
    throw new SigilError(
      ErrorCode.SIGNING_KEY,
      `the key ${key.description} does not belong to ${what}: pass the key the certificate was issued for`,
    );
  }
}
