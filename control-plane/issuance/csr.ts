import { parseSpiffeId, type SpiffeId } from '../../common/spiffe-id.ts';
import type { KeyType } from '../../common/key-type.ts';
import { keyAlgorithm, spkiSha256 } from '../../common/key-pair.ts';
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

async function runRules(der: Uint8Array, rules: readonly CsrRule[]): Promise<ParsedCsr> {
  const csr = decodeCsr(der);
  for (const rule of rules) await rule(csr);
  const keyType = csr.keyType;
  // One KeyObject, synchronously: WebCrypto's importKey/exportKey cost a thread-pool round trip each.
  const key = csr.key;
  const publicKey = key.toCryptoKey(keyAlgorithm(keyType), true, ['verify']);
  // Hash the re-exported SPKI: the certificate carries this canonical form, so inventory lookups match it.
  const spki = new Uint8Array(key.export({ type: 'spki', format: 'der' }));
  return Object.freeze({
    spiffeId: parseSpiffeId(csrUriSans(csr)[0] ?? ''),
    publicKey,
    keyType,
    spki,
    publicKeySha256: spkiSha256(spki),
  });
}
