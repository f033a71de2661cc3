import { parseSpiffeId, type SpiffeId } from '../../common/spiffe-id.ts';
import type { KeyType } from '../../common/key-type.ts';
import { keyAlgorithm, spkiSha256 } from '../../common/key-pair.ts';
import type { KeyObject } from 'node:crypto';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import {
  CONTEXT_FREE_RULES,
  csrUriSans,
  decodeCsr,
  exactlyOneUriSan,
  inTrustDomain,
  keyAllowed,
  selfSignatureValid,
  signatureHashStrong,
  type CsrRule,
} from './csr-rules.ts';

export interface ParsedCsr {
  readonly spiffeId: SpiffeId;
  /** The requested key, imported for verification; pass it to CertificateAuthority.issueLeaf. */
  readonly publicKey: CryptoKey;
  readonly keyType: KeyType;
  /** The key's DER SPKI as it will appear in the certificate (re-encoded by Node, so canonical). */
  readonly spki: Uint8Array;
  /** Hex SHA-256 over that SPKI. */
  readonly publicKeySha256: string;
}

export interface CheckCsrOptions {
  readonly trustDomain: string;
}

/**
 * Decodes a CSR and runs every rule that needs no context (key policy, self-signature, signature hash, one URI SAN
 * that is a workload SPIFFE ID). No unchecked request comes out of here: use checkCsr to also bind the trust domain.
 */
export async function parseCsr(der: Uint8Array): Promise<ParsedCsr> {
  return runRules(der, CONTEXT_FREE_RULES);
}

/** parseCsr plus the trust-domain rule: what the Identity service runs before signing anything. */
export async function checkCsr(der: Uint8Array, options: CheckCsrOptions): Promise<ParsedCsr> {
  return runRules(der, [...CONTEXT_FREE_RULES, inTrustDomain(options.trustDomain)]);
}

/**
 * The rules for an admin credential's CSR (`sigil admin create`): key policy and self-signature like any CSR, and
 * exactly the one admin SPIFFE ID expected, which the workload rules refuse (/sigil/ paths are reserved).
 */
export async function checkAdminCsr(der: Uint8Array, expectedSpiffeId: string): Promise<ParsedCsr> {
  return runRules(der, [
    keyAllowed,
    selfSignatureValid,
    signatureHashStrong,
    exactlyOneUriSan,
    (csr) => {
      const asked = csrUriSans(csr)[0] ?? '';
      if (asked !== expectedSpiffeId)
        throw new SigilError(
          ErrorCode.CSR_SPIFFE_ID_MISMATCH,
          `the CSR asks for ${asked}, but the admin identity is ${expectedSpiffeId}`,
        );
    },
  ]);
}

/** The DER prefix of an uncompressed EC point's SPKI, per curve, as Node (OpenSSL) exports it. */
const EC_SPKI_PREFIX: Partial<Record<KeyType, Uint8Array>> = {
  'ec-p256': Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'),
  'ec-p384': Buffer.from('3076301006072a8648ce3d020106052b81040022036200', 'hex'),
};
const EC_POINT_BYTES: Partial<Record<KeyType, number>> = { 'ec-p256': 65, 'ec-p384': 97 };

/**
 * The SPKI as Node exports `key`. An EC key sent in that very form (named curve, uncompressed point, which `key`
 * was decoded from, so the point is on the curve) is returned as sent: OpenSSL's export costs more than the rest of
 * the CSR checks. Anything else (a compressed point, RSA) is re-exported.
 */
export function canonicalSpki(sent: Uint8Array, keyType: KeyType, key: KeyObject): Uint8Array {
  const prefix = EC_SPKI_PREFIX[keyType];
  const point = EC_POINT_BYTES[keyType] ?? 0;
  if (
    prefix &&
    sent.length === prefix.length + point &&
    sent[prefix.length] === 0x04 &&
    Buffer.from(sent.buffer, sent.byteOffset, prefix.length).equals(prefix)
  )
    return sent.slice();
  return new Uint8Array(key.export({ type: 'spki', format: 'der' }));
}

async function runRules(der: Uint8Array, rules: readonly CsrRule[]): Promise<ParsedCsr> {
  const csr = decodeCsr(der);
  for (const rule of rules) await rule(csr);
  const keyType = csr.keyType;
  // One KeyObject, synchronously: WebCrypto's importKey/exportKey cost a thread-pool round trip each.
  const key = csr.key;
  // Hash the canonical SPKI: the certificate carries this form, so inventory lookups match it.
  const spki = canonicalSpki(csr.spki, keyType, key);
  // Only the library path (the first SVID of a key type, or SANs beyond the URI) reads a CryptoKey: made on demand.
  let publicKey: CryptoKey | undefined;
  return Object.freeze({
    spiffeId: parseSpiffeId(csrUriSans(csr)[0] ?? ''),
    get publicKey() {
      publicKey ??= key.toCryptoKey(keyAlgorithm(keyType), true, ['verify']);
      return publicKey;
    },
    keyType,
    spki,
    publicKeySha256: spkiSha256(spki),
  });
}
