import { ErrorCode, SigilError } from './errors.ts';
import { classifyPublicKey } from './key-type.ts';
import { parseSpiffeId, trustDomainId } from './spiffe-id.ts';
import type { SpiffeId } from './spiffe-id.ts';
import { EKU_OIDS } from './x509-facts.ts';
import type { X509Facts } from './x509-facts.ts';

/**
 * The X.509-SVID profile of DESIGN.md section 2, as enforced on certificates Sigil did not necessarily issue:
 * peers' leaves (`validateSvidLeaf`) and the signing CA's own material (`validateSigningCa`).
 * These checks sit on top of path validation (done by OpenSSL in TLS, or by path-validator.ts); they never
 * decide trust in a signature. Every rejection is SVID_INVALID with a stable `details.reason`.
 */

export type SvidPurpose = 'client' | 'server' | 'any';

export interface SvidLeafOptions {
  /** The trust domain whose bundle the chain was verified against; the ID must be in it. */
  readonly trustDomain: string;
  /** The role the peer plays towards us: a client connecting in, or a server we dialled. */
  readonly purpose: SvidPurpose;
  /** When given, validity is checked against it (ms since epoch). TLS handshakes check validity themselves. */
  readonly now?: number;
}

const STRONG_HASHES = new Set(['SHA-256', 'SHA-384', 'SHA-512']);

function reject(reason: string, message: string, cause?: unknown): never {
  throw new SigilError(ErrorCode.SVID_INVALID, message, { details: { reason }, cause });
}

/** Checks a peer's leaf certificate against the SVID profile and returns its SPIFFE ID. */
export function validateSvidLeaf(facts: X509Facts, opts: SvidLeafOptions): SpiffeId {
  const id = leafSpiffeId(facts);
  if (id.path === '')
    reject('no-path', `the SVID names the trust domain ${id.uri} itself; a workload SVID needs a path`);
  if (id.trustDomain !== opts.trustDomain) {
    reject(
      'trust-domain',
      `the SVID ${id.uri} is in trust domain "${id.trustDomain}" but was presented for "${opts.trustDomain}"`,
    );
  }
  if (facts.isCa || facts.keyUsage.includes('keyCertSign') || facts.keyUsage.includes('cRLSign')) {
    reject(
      'ca-leaf',
      `the SVID ${id.uri} is a CA certificate (CA:true, keyCertSign or cRLSign); a leaf SVID must not be able to sign certificates`,
    );
  }
  if (!facts.keyUsage.includes('digitalSignature')) {
    reject(
      'key-usage',
      `the SVID ${id.uri} lacks the digitalSignature key usage, so it cannot authenticate a TLS handshake`,
    );
  }
  checkEku(facts, id, opts.purpose);
  checkKeyAndSignature(facts, `the SVID ${id.uri}`);
  if (opts.now !== undefined) checkValidity(facts, opts.now, `the SVID ${id.uri}`);
  return id;
}

function leafSpiffeId(facts: X509Facts): SpiffeId {
  if (facts.uriSans.length !== 1) {
    reject('uri-san-count', `an SVID must carry exactly one URI SAN, this certificate has ${facts.uriSans.length}`);
  }
  const uri = facts.uriSans[0] ?? '';
  try {
    return parseSpiffeId(uri);
  } catch (cause) {
    return reject('not-spiffe', `the URI SAN is not a valid SPIFFE ID: ${(cause as Error).message}`, cause);
  }
}

function checkEku(facts: X509Facts, id: SpiffeId, purpose: SvidPurpose): void {
  // No EKU extension means "any purpose" (RFC 5280 4.2.1.12). anyExtendedKeyUsage is deliberately not honoured:
  // a peer that wants to speak TLS says so explicitly.
  if (!facts.extKeyUsagePresent) return;
  const has = (oid: string): boolean => facts.extKeyUsage.includes(oid);
  const ok =
    purpose === 'client'
      ? has(EKU_OIDS.clientAuth)
      : purpose === 'server'
        ? has(EKU_OIDS.serverAuth)
        : has(EKU_OIDS.clientAuth) || has(EKU_OIDS.serverAuth);
  if (!ok) {
    const wanted =
      purpose === 'client' ? 'clientAuth' : purpose === 'server' ? 'serverAuth' : 'clientAuth or serverAuth';
    reject(
      'eku',
      `the SVID ${id.uri} has an extended key usage without ${wanted}, so it may not act as a TLS ${purpose === 'any' ? 'peer' : purpose}`,
    );
  }
}

function checkKeyAndSignature(facts: X509Facts, what: string): void {
  try {
    classifyPublicKey(facts.publicKey);
  } catch (cause) {
    reject('key', `${what} has a key outside the key policy: ${(cause as Error).message}`, cause);
  }
  if (!STRONG_HASHES.has(facts.signatureHash)) {
    reject(
      'signature',
      `${what} is signed with ${facts.signatureHash === 'unknown' ? `algorithm ${facts.signatureAlgorithmOid}` : facts.signatureHash}; SHA-256 or stronger is required`,
    );
  }
}

function checkValidity(facts: X509Facts, now: number, what: string): void {
  if (now < facts.notBefore) {
    // Issuers backdate by at most a minute, so a certificate from this host's future means its clock is behind.
    const seconds = Math.round((facts.notBefore - now) / 1000);
    const ahead = `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
    reject(
      'not-yet-valid',
      `${what} is not valid before ${new Date(facts.notBefore).toISOString()}, ${ahead} after this host's clock (${new Date(now).toISOString()}): this clock is at least that far behind its issuer's; fix time synchronisation (NTP) on both hosts`,
    );
  }
  if (now > facts.notAfter)
    reject('expired', `${what} expired at ${new Date(facts.notAfter).toISOString()}: it must be renewed`);
}

/**
 * Checks the intermediate the CA signs with when it loads its own material: CA:true (critical), pathLen 0,
 * keyCertSign + cRLSign, exactly one URI SAN equal to spiffe://<trustDomain>, and the key policy.
 */
export function validateSigningCa(facts: X509Facts, trustDomain: string, now?: number): void {
  const what = `the signing CA certificate (${facts.subject})`;
  if (!facts.basicConstraintsPresent || !facts.isCa)
    reject('not-ca', `${what} is not a CA (basicConstraints CA:true is missing)`);
  if (!facts.basicConstraintsCritical) reject('basic-constraints', `${what} must mark basicConstraints critical`);
  if (facts.pathLen !== 0)
    reject('path-len', `${what} must have pathLen 0, so it can only sign leaves; it has ${facts.pathLen ?? 'none'}`);
  if (!facts.keyUsage.includes('keyCertSign') || !facts.keyUsage.includes('cRLSign')) {
    reject('key-usage', `${what} needs the keyCertSign and cRLSign key usages`);
  }
  const expected = trustDomainId(trustDomain);
  if (facts.uriSans.length !== 1)
    reject('uri-san-count', `${what} must carry exactly one URI SAN, ${expected}; it has ${facts.uriSans.length}`);
  if (facts.uriSans[0] !== expected)
    reject('trust-domain', `${what} names ${facts.uriSans[0] ?? ''} but this CA serves ${expected}`);
  checkKeyAndSignature(facts, what);
  if (now !== undefined) checkValidity(facts, now, what);
}
