import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPublicKey, verify } from 'node:crypto';
import { bytesOf, childrenOf, readTlv } from '../ca/der-tlv.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { parseSpiffeId, parseWorkloadId } from '../../common/spiffe-id.ts';
import { keyTypeOfSpki } from '../../common/key-pair.ts';

/**
 * CSR checks in the step-ca style: each rule checks one thing and throws a SigilError whose message tells the
 * requester what to fix. A request is acceptable when every rule of a list passes, in order.
 */

export interface CsrUnderCheck {
  readonly request: x509.Pkcs10CertificateRequest;
  /** DER SubjectPublicKeyInfo of the requested key. */
  readonly spki: Uint8Array;
}

export type CsrRule = (csr: CsrUnderCheck) => void | Promise<void>;

const SUBJECT_ALT_NAME_OID = '2.5.29.17';
const STRONG_HASHES = new Set(['SHA-256', 'SHA-384', 'SHA-512']);

/** Decodes a DER PKCS#10 request; anything that is not one is CSR_MALFORMED. */
export function decodeCsr(der: Uint8Array): CsrUnderCheck {
  const malformed = (cause: unknown): SigilError =>
    new SigilError(
      ErrorCode.CSR_MALFORMED,
      'the CSR is not a DER PKCS#10 request: send the request in DER (not PEM) as built by makeCsr',
      { cause },
    );
  if (!(der instanceof Uint8Array) || der.byteLength === 0) throw malformed(undefined);
  try {
    const request = new x509.Pkcs10CertificateRequest(Uint8Array.from(der));
    // The parser also takes PEM, hex and base64 text and converts it: the wire contract is DER only.
    if (!Buffer.from(request.rawData).equals(der)) throw new Error('input is not DER');
    // Touch the lazily decoded parts now, so a broken request fails here and not inside a later rule.
    void request.extensions;
    return { request, spki: new Uint8Array(request.publicKey.rawData) };
  } catch (err) {
    throw malformed(err);
  }
}

/**
 * The key policy (KEY_TOO_WEAK / KEY_UNSUPPORTED). It runs before the signature check so a refused key is reported
 * as such, and is never fed to a verifier.
 */
export const keyAllowed: CsrRule = (csr) => {
  keyTypeOfSpki(csr.spki);
};

/** Node's names of the hashes node:crypto verifies CSR signatures with. */
const NODE_HASHES: Readonly<Record<string, string>> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

/**
 * Whether the request's self-signature verifies: ECDSA and RSA PKCS#1 v1.5 through node:crypto on the raw signed
 * bytes (synchronous, no WebCrypto round trip; the CSR carries ECDSA signatures in the DER form Node reads), any
 * other algorithm through the library's WebCrypto path.
 */
async function selfSignatureVerifies(csr: CsrUnderCheck): Promise<boolean> {
  const algorithm = csr.request.signatureAlgorithm as unknown as { name: string; hash?: { name: string } };
  const hash = NODE_HASHES[algorithm.hash?.name ?? ''];
  if (hash && (algorithm.name === 'ECDSA' || algorithm.name === 'RSASSA-PKCS1-v1_5')) {
    const key = createPublicKey({ key: Buffer.from(csr.spki), format: 'der', type: 'spki' });
    // The signed bytes are the certificationRequestInfo exactly as received: the first element of the request.
    const der = new Uint8Array(csr.request.rawData);
    const [info] = childrenOf(der, readTlv(der, 0));
    if (!info) return false;
    return verify(hash, bytesOf(der, info), key, new Uint8Array(csr.request.signature));
  }
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
  let algorithm: { name: string; hash?: { name: string } };
  try {
    algorithm = csr.request.signatureAlgorithm as unknown as typeof algorithm;
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

/** Decoded once per request: several rules read the SANs, and ASN.1 decoding in JS is the costly part. */
const uriSansOf = new WeakMap<x509.Pkcs10CertificateRequest, readonly string[]>();

/** Every URI SAN of the request's extensionRequest, across all SAN extensions. */
export function csrUriSans(request: x509.Pkcs10CertificateRequest): readonly string[] {
  const known = uriSansOf.get(request);
  if (known) return known;
  try {
    const uris = Object.freeze(
      request
        .getExtensions(SUBJECT_ALT_NAME_OID)
        .flatMap((ext) => new x509.SubjectAlternativeNameExtension(ext.rawData).names.items)
        .filter((name) => name.type === 'url')
        .map((name) => name.value),
    );
    uriSansOf.set(request, uris);
    return uris;
  } catch (err) {
    throw new SigilError(
      ErrorCode.CSR_MALFORMED,
      'the CSR subjectAltName extension cannot be read: request only a URI SAN',
      { cause: err },
    );
  }
}

export const exactlyOneUriSan: CsrRule = (csr) => {
  const count = csrUriSans(csr.request).length;
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
  const id = parseSpiffeId(csrUriSans(csr.request)[0] ?? '');
  parseWorkloadId(id.uri, id.trustDomain);
};

/** The SPIFFE ID belongs to the CA's trust domain (SPIFFE_ID_TRUST_DOMAIN otherwise). */
export function inTrustDomain(trustDomain: string): CsrRule {
  return (csr) => {
    parseWorkloadId(csrUriSans(csr.request)[0] ?? '', trustDomain);
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
