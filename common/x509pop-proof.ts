import { createHash, sign, type KeyObject } from 'node:crypto';

/**
 * What an x509pop proof signs, shared by the sidecar (signer) and the control plane (verifier): a context string,
 * the control plane's single-use nonce and the SHA-256 of the CSR sent with it, so a proof cannot be replayed or
 * carry another key into an SVID.
 */
export const X509POP_SIGNATURE_CONTEXT = Buffer.from('sigil x509pop v1\0', 'latin1');

export function x509PopSignedData(nonce: Uint8Array, csrDer: Uint8Array): Buffer {
  return Buffer.concat([X509POP_SIGNATURE_CONTEXT, nonce, createHash('sha256').update(csrDer).digest()]);
}

/** The digest a key type signs with: none for Ed25519 (it hashes internally), SHA-256 otherwise. */
export function x509PopDigest(key: KeyObject): string | null {
  return key.asymmetricKeyType === 'ed25519' ? null : 'sha256';
}

/** Signs the challenge with the device key (the sidecar's side). */
export function signX509PopChallenge(key: KeyObject, nonce: Uint8Array, csrDer: Uint8Array): Buffer {
  return sign(x509PopDigest(key), x509PopSignedData(nonce, csrDer), key);
}
