import * as x509 from '@peculiar/x509';
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { readCsrParts } from './csr-der.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { parseSpiffeId, parseWorkloadId } from '../../common/spiffe-id.ts';
import { keyObjectFacts } from '../../common/key-pair.ts';
import { classifyPublicKey, type KeyType, type PublicKeyFacts } from '../../common/key-type.ts';

/**
 * CSR checks in the step-ca style: each rule checks one thing and throws a SigilError whose message tells the
 * requester what to fix. A request is acceptable when every rule of a list passes, in order.
 */

export interface CsrUnderCheck {
  /** The library's view of the request, decoded on first use (signing subjects, unusual signature algorithms). */
  readonly request: x509.Pkcs10CertificateRequest;
  /** DER SubjectPublicKeyInfo of the requested key. */
  readonly spki: Uint8Array;
  /** The requested key's type (on first use; KEY_TOO_WEAK / KEY_UNSUPPORTED for a key outside the policy). */
  readonly keyType: KeyType;
  /** The requested key, imported once (on first use). */
  readonly key: KeyObject;
  /** The signed certificationRequestInfo, exactly as received. */
  readonly signedBytes: Uint8Array;
  readonly signatureAlgorithmOid: string;
  /** The signature BIT STRING's content (DER ECDSA-Sig-Value or the RSA signature). */
  readonly signature: Uint8Array;
  /** Every URI SAN of the extensionRequest, or the error reading them (raised by the rules that need them). */
  readonly uriSans: readonly string[] | SigilError;
}

export type CsrRule = (csr: CsrUnderCheck) => void | Promise<void>;

const STRONG_HASHES = new Set(['SHA-256', 'SHA-384', 'SHA-512']);

/**
 * Reads a DER PKCS#10 request once (csr-der.ts) into what the rules read; anything that is not one is
 * CSR_MALFORMED. The library's full decode is made only when a rule asks for `request`.
 */
export function decodeCsr(der: Uint8Array): CsrUnderCheck {
  const malformed = (cause: unknown): SigilError =>
    new SigilError(
      ErrorCode.CSR_MALFORMED,
      'the CSR is not a DER PKCS#10 request: send the request in DER (not PEM) as built by makeCsr',
      { cause },
    );
  if (!(der instanceof Uint8Array) || der.byteLength === 0) throw malformed(undefined);
  try {
    const bytes = Uint8Array.from(der);
    const parts = readCsrParts(bytes);
    const spki = parts.spki;
    let request: x509.Pkcs10CertificateRequest | undefined;
    let key: KeyObject | undefined;
    let keyType: KeyType | undefined;
    return {
      // Classified from the one KeyObject the signature check also uses (OpenSSL's key decoding is not cheap).
      get keyType() {
        keyType ??= classifyPublicKey(keyFactsOf(() => this.key));
        return keyType;
      },
      get request() {
        request ??= new x509.Pkcs10CertificateRequest(bytes);
        return request;
      },
      spki,
      // On first use: the key policy rule runs first and reports an unusable key as such.
      get key() {
        key ??= createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
        return key;
      },
      signedBytes: parts.signedBytes,
      signatureAlgorithmOid: parts.signatureAlgorithmOid,
      signature: parts.signature,
      uriSans: uriSansOf(parts.uriSans),
    };
  } catch (err) {
    throw malformed(err);
  }
}

/** The facts of the requested key; a key Node cannot read is an unrecognised algorithm (KEY_UNSUPPORTED). */
function keyFactsOf(key: () => KeyObject): PublicKeyFacts {
  try {
    return keyObjectFacts(key());
  } catch {
    return { kind: 'other', algorithm: 'unrecognised' };
  }
}

function uriSansOf(read: () => readonly string[]): readonly string[] | SigilError {
  try {
    return read();
  } catch (err) {
    return new SigilError(
      ErrorCode.CSR_MALFORMED,
      'the CSR subjectAltName extension cannot be read: request only a URI SAN',
      { cause: err },
    );
  }
}

/**
 * The key policy (KEY_TOO_WEAK / KEY_UNSUPPORTED). It runs before the signature check so a refused key is reported
 * as such, and is never fed to a verifier.
 */
export const keyAllowed: CsrRule = (csr) => {
  void csr.keyType;
};

/** The signature algorithms node:crypto verifies directly (default padding: PKCS#1 v1.5; ECDSA in DER). */
const SIGNATURE_ALGORITHMS: Readonly<Record<string, { name: string; hash: string }>> = {
  '1.2.840.10045.4.3.2': { name: 'ECDSA', hash: 'SHA-256' },
  '1.2.840.10045.4.3.3': { name: 'ECDSA', hash: 'SHA-384' },
  '1.2.840.10045.4.3.4': { name: 'ECDSA', hash: 'SHA-512' },
  '1.2.840.113549.1.1.11': { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  '1.2.840.113549.1.1.12': { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-384' },
  '1.2.840.113549.1.1.13': { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512' },
};

/** Node's names of the hashes node:crypto verifies CSR signatures with. */
const NODE_HASHES: Readonly<Record<string, string>> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

/**
 * Whether the request's self-signature verifies: ECDSA and RSA PKCS#1 v1.5 through node:crypto on the raw signed
 * bytes (synchronous, no WebCrypto round trip; the CSR carries ECDSA signatures in the DER form Node reads), any
 * other algorithm through the library's WebCrypto path.
 */
async function selfSignatureVerifies(csr: CsrUnderCheck): Promise<boolean> {
  const algorithm = SIGNATURE_ALGORITHMS[csr.signatureAlgorithmOid];
  const hash = NODE_HASHES[algorithm?.hash ?? ''];
  if (algorithm && hash) return verify(hash, csr.signedBytes, csr.key, csr.signature);
  return csr.request.verify(globalThis.crypto);
}

export const selfSignatureValid: CsrRule = async (csr) => {
  let valid = false;
  try {
    valid = await selfSignatureVerifies(csr);
  } catch {
    valid = false;
  }
  if (!valid) {
    throw new SigilError(
      ErrorCode.CSR_SIGNATURE,
      'the CSR signature does not verify: sign the request with the private key of the public key it carries',
    );
  }
};

export const signatureHashStrong: CsrRule = (csr) => {
  const known = SIGNATURE_ALGORITHMS[csr.signatureAlgorithmOid];
  let algorithm: { name: string; hash?: { name: string } };
  try {
    algorithm = known
      ? { name: known.name, hash: { name: known.hash } }
      : (csr.request.signatureAlgorithm as unknown as typeof algorithm);
  } catch {
    algorithm = { name: 'unrecognised' };
  }
  const hash = algorithm.hash?.name;
  if (hash === undefined || !STRONG_HASHES.has(hash)) {
    throw new SigilError(
      ErrorCode.SIGNATURE_WEAK,
      `the CSR is signed with ${algorithm.name}${hash ? `/${hash}` : ''}: sign it with SHA-256 or stronger`,
    );
  }
};

/** Every URI SAN of the request's extensionRequest, across all SAN extensions; CSR_MALFORMED when unreadable. */
export function csrUriSans(csr: CsrUnderCheck): readonly string[] {
  if (csr.uriSans instanceof SigilError) throw csr.uriSans;
  return csr.uriSans;
}

export const exactlyOneUriSan: CsrRule = (csr) => {
  const count = csrUriSans(csr).length;
  if (count !== 1) {
    throw new SigilError(
      ErrorCode.CSR_URI_SAN_COUNT,
      `the CSR must carry exactly one URI SAN (the SPIFFE ID), but ${count} ${count === 1 ? 'was' : 'were'} found`,
      { details: { found: count } },
    );
  }
};

/** The URI SAN is a SPIFFE ID that names a workload (it has a path). */
export const uriSanIsWorkloadId: CsrRule = (csr) => {
  const id = parseSpiffeId(csrUriSans(csr)[0] ?? '');
  parseWorkloadId(id.uri, id.trustDomain);
};

/** The SPIFFE ID belongs to the CA's trust domain (SPIFFE_ID_TRUST_DOMAIN otherwise). */
export function inTrustDomain(trustDomain: string): CsrRule {
  return (csr) => {
    parseWorkloadId(csrUriSans(csr)[0] ?? '', trustDomain);
  };
}

/** The checks that need no context, in the order they run. */
export const CONTEXT_FREE_RULES: readonly CsrRule[] = [
  keyAllowed,
  selfSignatureValid,
  signatureHashStrong,
  exactlyOneUriSan,
  uriSanIsWorkloadId,
];
