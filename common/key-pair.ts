import { createHash, createPublicKey, KeyObject as KeyObjectClass, type KeyObject, type webcrypto } from 'node:crypto';
import { classifyPublicKey, type KeyType, type PublicKeyFacts } from './key-type.ts';

const subtle = globalThis.crypto.subtle;

const EC_CURVES: Readonly<Record<string, string>> = {
  prime256v1: 'P-256',
  secp384r1: 'P-384',
  secp521r1: 'P-521',
};

export type KeyAlgorithmParams = webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;

/** The WebCrypto algorithm a key of `type` is generated and imported with. RSA keys sign PKCS#1 v1.5 SHA-256. */
export function keyAlgorithm(type: KeyType): KeyAlgorithmParams {
  switch (type) {
    case 'ec-p256':
      return { name: 'ECDSA', namedCurve: 'P-256' };
    case 'ec-p384':
      return { name: 'ECDSA', namedCurve: 'P-384' };
    case 'rsa-2048':
    case 'rsa-3072':
    case 'rsa-4096':
      return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  }
}

/** The signature algorithm a key of `type` signs certificates and CSRs with: the hash matches the curve strength. */
export function signingAlgorithm(type: KeyType): webcrypto.EcdsaParams | webcrypto.Algorithm {
  switch (type) {
    case 'ec-p256':
      return { name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams;
    case 'ec-p384':
      return { name: 'ECDSA', hash: 'SHA-384' } as webcrypto.EcdsaParams;
    case 'rsa-2048':
    case 'rsa-3072':
    case 'rsa-4096':
      return { name: 'RSASSA-PKCS1-v1_5' };
  }
}

const RSA_BITS: Readonly<Record<string, number>> = { 'rsa-2048': 2048, 'rsa-3072': 3072, 'rsa-4096': 4096 };

/** Generates an extractable signing key pair (extractable so it can be written to a key file). */
export async function generateKeyPair(type: KeyType): Promise<webcrypto.CryptoKeyPair> {
  const algorithm = keyAlgorithm(type);
  const bits = RSA_BITS[type];
  const params =
    bits === undefined ? algorithm : { ...algorithm, modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]) };
  return (await subtle.generateKey(params, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

/** Reduces a key to what the key policy looks at. Works for public and private KeyObjects. */
export function keyObjectFacts(key: KeyObject): PublicKeyFacts {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = details.namedCurve ?? 'unknown';
      return { kind: 'ec', namedCurve: EC_CURVES[curve] ?? curve };
    }
    case 'rsa':
      return { kind: 'rsa', modulusBits: details.modulusLength ?? 0 };
    default:
      return { kind: 'other', algorithm: key.asymmetricKeyType ?? 'unknown' };
  }
}

/** Facts of a DER SubjectPublicKeyInfo; an SPKI Node cannot read is reported as an unknown algorithm. */
export function publicKeyFacts(spki: Uint8Array): PublicKeyFacts {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch {
    return { kind: 'other', algorithm: 'unrecognised' };
  }
  return keyObjectFacts(key);
}

/** Applies the key policy to an SPKI: its KeyType, or a KEY_TOO_WEAK / KEY_UNSUPPORTED SigilError. */
export function keyTypeOfSpki(spki: Uint8Array): KeyType {
  return classifyPublicKey(publicKeyFacts(spki));
}

export async function exportSpki(publicKey: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await subtle.exportKey('spki', publicKey));
}

/** Imports an SPKI of an allowed key type as a verification key. */
export async function importPublicKey(spki: Uint8Array, type: KeyType): Promise<CryptoKey> {
  return subtle.importKey('spki', Uint8Array.from(spki), keyAlgorithm(type), true, ['verify']);
}

/** Hex SHA-256 over the DER SPKI: the inventory's key fingerprint (lets renewal refuse a reused key). */
export function spkiSha256(spki: Uint8Array): string {
  return createHash('sha256').update(spki).digest('hex');
}

/** Unencrypted PKCS#8 PEM of a private key, for node:tls and for key files written with mode 0600. */
export function privateKeyPemOf(key: CryptoKey): string {
  return KeyObjectClass.from(key).export({ format: 'pem', type: 'pkcs8' }) as string;
}
