import type { KeyType } from '../../common/key-type.ts';
import type { DigestName } from '../signing/oids.ts';
import type { SignatureEncoding, SigningKey } from '../signing/signing-key.ts';
import { ecdsaRawToDer } from './ecdsa-signature.ts';

/**
 * A software key held as a WebCrypto CryptoKey (decrypted from a key file, or generated in memory): the `file` key
 * store's SigningKey. WebCrypto signs off the event loop, as the CA did before key stores existed.
 */
export function cryptoKeySigningKey(
  privateKey: CryptoKey,
  publicKeySpki: Uint8Array,
  keyType: KeyType,
  description: string,
): SigningKey {
  const ec = privateKey.algorithm.name === 'ECDSA';
  const sign = async (data: Uint8Array, digest: DigestName, encoding: SignatureEncoding = 'der') => {
    const algorithm = ec ? { name: 'ECDSA', hash: digest } : { name: privateKey.algorithm.name };
    const signature = new Uint8Array(await globalThis.crypto.subtle.sign(algorithm, privateKey, Uint8Array.from(data)));
    return ec && encoding === 'der' ? ecdsaRawToDer(signature) : signature;
  };
  return Object.freeze({ keyType, publicKeySpki, description, sign, toJSON: () => ({ keyType, description }) });
}
