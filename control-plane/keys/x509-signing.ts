import type { webcrypto } from 'node:crypto';
import { keyAlgorithm } from '../../common/key-pair.ts';
import type { DigestName } from '../signing/oids.ts';
import type { SigningKey } from '../signing/signing-key.ts';

export interface X509Signing {
  /** A stand-in CryptoKey carrying the key's algorithm; only `crypto` below can sign with it. */
  readonly signingKey: CryptoKey;
  /** A WebCrypto whose subtle.sign sends the stand-in's signatures to the SigningKey; everything else is Node's. */
  readonly crypto: webcrypto.Crypto;
}

const DIGESTS: readonly DigestName[] = ['SHA-256', 'SHA-384', 'SHA-512'];

function digestOf(algorithm: unknown): DigestName {
  const hash = (algorithm as { hash?: string | { name?: string } }).hash;
  const name = typeof hash === 'string' ? hash : hash?.name;
  const digest = DIGESTS.find((d) => d === name?.toUpperCase());
  if (!digest) throw new Error(`cannot sign with hash ${String(name)}`);
  return digest;
}

/**
 * Lets @peculiar/x509's generators (certificates, CRLs) sign through any SigningKey — a file key or a PKCS#11 token
 * key — without the key ever being a real CryptoKey. The generators hand the stand-in key to `crypto.subtle.sign`
 * and expect WebCrypto's signature format (r‖s for ECDSA), which is what is asked of the SigningKey.
 */
export function x509Signing(key: SigningKey): X509Signing {
  const signingKey = Object.freeze({
    type: 'private',
    extractable: false,
    algorithm: keyAlgorithm(key.keyType),
    usages: ['sign'],
  }) as unknown as CryptoKey;
  const real = globalThis.crypto;
  const subtle = new Proxy(real.subtle, {
    get(target, property) {
      if (property === 'sign') {
        return async (algorithm: unknown, k: CryptoKey, data: ArrayBuffer | ArrayBufferView) => {
          if (k !== signingKey) return target.sign(algorithm as webcrypto.AlgorithmIdentifier, k, data as ArrayBuffer);
          const bytes = ArrayBuffer.isView(data)
            ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
            : new Uint8Array(data);
          const signature = await key.sign(bytes, digestOf(algorithm), 'ieee-p1363');
          return Uint8Array.from(signature).buffer;
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const crypto = new Proxy(real, {
    get(target, property) {
      if (property === 'subtle') return subtle;
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as webcrypto.Crypto;
  return { signingKey, crypto };
}
