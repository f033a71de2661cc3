import type { webcrypto } from 'node:crypto';
import { exportSpki, generateKeyPair } from '../../common/key-pair.ts';
import type { KeyType } from '../../common/key-type.ts';
import type { SigningKey } from '../signing/signing-key.ts';
import { cryptoKeySigningKey } from './crypto-key-signing-key.ts';
import type { Pkcs11KeyRef, Pkcs11Token } from './pkcs11-token.ts';

/** A CA key just made: how to sign with it, and either the pair (software, to be written encrypted) or a token ref. */
export interface GeneratedCaKey {
  readonly signingKey: SigningKey;
  readonly publicKeySpki: Uint8Array;
  /** Software keys only: written to an encrypted key file by the caller. */
  readonly keys?: webcrypto.CryptoKeyPair;
  /** Token keys only: what ca.json records. */
  readonly ref?: Pkcs11KeyRef;
}

/** Where new CA keys are made: `file` (in memory, then an encrypted file) or `pkcs11` (inside a token). */
export interface CaKeySource {
  readonly kind: 'file' | 'pkcs11';
  /** `label` names the key in a token (e.g. sigil-example.org-root-20260101T120000Z); files ignore it. */
  generate(keyType: KeyType, label: string): Promise<GeneratedCaKey>;
}

export const softwareKeySource: CaKeySource = {
  kind: 'file',
  async generate(keyType, label) {
    const keys = await generateKeyPair(keyType);
    const publicKeySpki = await exportSpki(keys.publicKey);
    return { signingKey: cryptoKeySigningKey(keys.privateKey, publicKeySpki, keyType, label), publicKeySpki, keys };
  },
};

export function tokenKeySource(token: Pkcs11Token): CaKeySource {
  return {
    kind: 'pkcs11',
    async generate(keyType, label) {
      const { ref, key } = await token.generateKeyPair(keyType, label);
      return { signingKey: key, publicKeySpki: key.publicKeySpki, ref };
    },
  };
}
