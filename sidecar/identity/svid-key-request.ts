import { makeCsr } from '../../common/csr-builder.ts';
import { exportSpki, generateKeyPair, privateKeyPemOf, spkiSha256 } from '../../common/key-pair.ts';
import type { KeyType } from '../../common/key-type.ts';

/** A fresh key and the CSR that asks for it to be certified. Holds the private key: never log it. */
export interface SvidKeyRequest {
  readonly csrDer: Uint8Array;
  /** PKCS#8 PEM for node:tls. Non-enumerable, so it does not appear when the object is printed or serialised. */
  readonly keyPem: string;
  /** Hex SHA-256 of the SPKI in the CSR; the issued leaf must carry the same key. */
  readonly spkiSha256: string;
}

/**
 * Generates a new key pair in this process (a new one for every issuance: renewal must not reuse a key) and signs a
 * CSR for `spiffeId` with it. The key is exportable only because node:tls takes PEM; it is exported once, here.
 */
export async function newSvidKeyRequest(spiffeId: string, keyType: KeyType): Promise<SvidKeyRequest> {
  const keys = await generateKeyPair(keyType);
  const csrDer = await makeCsr({ spiffeId, keys });
  const request = { csrDer, spkiSha256: spkiSha256(await exportSpki(keys.publicKey)) };
  Object.defineProperty(request, 'keyPem', { value: privateKeyPemOf(keys.privateKey), enumerable: false });
  return Object.freeze(request) as SvidKeyRequest;
}
