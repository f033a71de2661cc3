import { ErrorCode, SigilError } from '../../common/errors.ts';
import { validatePath } from '../../common/path-validator.ts';
import { validateSigningCa, validateSvidLeaf } from '../../common/svid-validator.ts';
import { derToPem, TrustBundle } from '../../common/trust-bundle.ts';
import { EKU_OIDS, parseX509Facts, type X509Facts } from '../../common/x509-facts.ts';
import type { IssuedSvidWire } from './identity-api.ts';

export interface IssuedSvidExpectation {
  /** The SPIFFE ID we asked for. */
  readonly spiffeId: string;
  readonly trustDomain: string;
  /** Hex SHA-256 of the SPKI we put in the CSR: the leaf must certify exactly that key. */
  readonly spkiSha256: string;
  /** ms since epoch; the whole path must be valid then. */
  readonly now: number;
}

export interface ValidatedSvid {
  readonly leaf: X509Facts;
  /** Leaf first, then the intermediates as the server sent them (PEM). */
  readonly certChainPem: string;
  /** The returned roots, deduplicated and checked to be CAs. */
  readonly bundle: TrustBundle;
}

function refuse(code: ErrorCode, reason: string, message: string): never {
  throw new SigilError(code, message, { details: { reason } });
}

/**
 * Decides whether an issuance may be served. Nothing from the wire is believed: the trust domain and roots must be
 * ours, the leaf must be a profile-conformant SVID for our SPIFFE ID and our new key, and the chain must verify to
 * the returned roots at `now`. Throws SVID_INVALID, SVID_UNTRUSTED or BUNDLE_INVALID with `details.reason`.
 */
export function validateIssuedSvid(wire: IssuedSvidWire, expected: IssuedSvidExpectation): ValidatedSvid {
  const [leafDer, ...intermediates] = wire.chain;
  if (leafDer === undefined)
    refuse(
      ErrorCode.SVID_INVALID,
      'empty-chain',
      'the control plane returned no certificate; check its logs for the issuance error',
    );
  if (wire.trust.trustDomain !== expected.trustDomain) {
    refuse(
      ErrorCode.SVID_UNTRUSTED,
      'trust-domain',
      `the control plane sent trust for "${wire.trust.trustDomain}" but this sidecar belongs to "${expected.trustDomain}": check the control plane address`,
    );
  }
  const bundle = new TrustBundle({
    trustDomain: expected.trustDomain,
    roots: wire.trust.roots,
    sequence: wire.trust.bundleSequence,
  });
  const leaf = parseX509Facts(leafDer);
  const id = validateSvidLeaf(leaf, { trustDomain: expected.trustDomain, purpose: 'any', now: expected.now });
  if (id.uri !== expected.spiffeId) {
    refuse(
      ErrorCode.SVID_INVALID,
      'spiffe-id-mismatch',
      `the issued SVID names ${id.uri} but ${expected.spiffeId} was requested; check the registration for this workload`,
    );
  }
  if (leaf.spkiSha256 !== expected.spkiSha256) {
    refuse(
      ErrorCode.SVID_INVALID,
      'key-mismatch',
      `the issued SVID (serial ${leaf.serial}) certifies another key than the one in our request; it is refused`,
    );
  }
  const path = validatePath({
    leaf: leafDer,
    intermediates,
    roots: bundle.roots,
    now: expected.now,
    requiredEku: EKU_OIDS.clientAuth,
  });
  // The profile of the signing CA is enforced by both sides (DESIGN.md section 2); a root signing leaves directly
  // has no intermediate to check.
  const issuer = path.chain.length > 2 ? path.chain[1] : undefined;
  if (issuer !== undefined) validateSigningCa(issuer, expected.trustDomain, expected.now);
  return Object.freeze({ leaf, certChainPem: wire.chain.map(derToPem).join(''), bundle });
}
