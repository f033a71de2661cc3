import { X509Certificate } from 'node:crypto';
import { ErrorCode, SigilError } from './errors.ts';
import { EKU_OIDS, EXT_OIDS, parseX509Facts } from './x509-facts.ts';
import type { X509Facts } from './x509-facts.ts';

/**
 * RFC 5280 path building and validation for chains Sigil checks outside an OpenSSL handshake (signed events,
 * signer chains). Builds every candidate path from the leaf to a trusted root (backtracking past expired or
 * broken branches) and accepts the first that passes every check. Signatures are verified by node:crypto.
 * Not implemented, and refused rather than ignored: name constraints (any nameConstraints extension fails the
 * path), and certificate policies when marked critical.
 */

export interface PathValidationInput {
  readonly leaf: Uint8Array;
  readonly intermediates: readonly Uint8Array[];
  readonly roots: readonly Uint8Array[];
  /** ms since epoch; every certificate of the path must be valid then. */
  readonly now: number;
  /** OID the leaf (and any CA carrying an EKU) must allow; anyExtendedKeyUsage satisfies it. */
  readonly requiredEku?: string;
}

export interface ValidatedPath {
  /** Leaf first, trusted root last. */
  readonly chain: readonly X509Facts[];
}

/** Extensions whose semantics this validator applies, so they may be critical. */
const PROCESSED_EXTENSIONS = new Set<string>([
  EXT_OIDS.basicConstraints,
  EXT_OIDS.keyUsage,
  EXT_OIDS.extKeyUsage,
  EXT_OIDS.subjectAltName,
]);

const ACCEPTED_SIGNATURES = new Set([
  '1.2.840.113549.1.1.11', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12',
  '1.2.840.113549.1.1.13',
  '1.2.840.113549.1.1.10', // RSASSA-PSS (hash checked by OpenSSL on verify)
  '1.2.840.10045.4.3.2', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3',
  '1.2.840.10045.4.3.4',
  '1.3.101.112', // Ed25519
]);

const MAX_INTERMEDIATES = 8;

interface Node {
  readonly facts: X509Facts;
  readonly cert: X509Certificate;
  readonly key: string;
}

function untrusted(reason: string, message: string, cause?: unknown): never {
  throw new SigilError(ErrorCode.SVID_UNTRUSTED, message, { details: { reason }, cause });
}

function toNode(der: Uint8Array, what: string): Node {
  try {
    const facts = parseX509Facts(der);
    return { facts, cert: new X509Certificate(der), key: Buffer.from(der).toString('hex') };
  } catch (cause) {
    return untrusted('malformed', `the ${what} certificate could not be decoded: ${(cause as Error).message}`, cause);
  }
}

/** Returns the validated path or throws SVID_UNTRUSTED with `details.reason`. */
export function validatePath(input: PathValidationInput): ValidatedPath {
  const leaf = toNode(input.leaf, 'leaf');
  const roots = input.roots.map((d) => toNode(d, 'root'));
  const rootKeys = new Set(roots.map((r) => r.key));
  // Undecodable intermediates cannot be part of any valid path; skipping them lets another path succeed.
  const pool = input.intermediates.flatMap((d) => {
    try {
      return [toNode(d, 'intermediate')];
    } catch {
      return [];
    }
  });
  let firstError: SigilError | undefined;
  for (const path of candidatePaths(leaf, pool, roots, rootKeys)) {
    try {
      checkPath(path, input);
      return Object.freeze({ chain: Object.freeze(path.map((n) => n.facts)) });
    } catch (err) {
      if (!(err instanceof SigilError)) throw err;
      firstError ??= err;
    }
  }
  if (firstError) throw firstError;
  return untrusted(
    'no-chain',
    `no chain from "${leaf.facts.subject}" to a trusted root: the issuer is missing, unknown, or its signature does not verify`,
  );
}

function issues(issuer: Node, child: Node): boolean {
  // checkIssued compares names (RFC 5280 canonical form) and AKI/SKI; verify checks the signature itself.
  return child.cert.checkIssued(issuer.cert) && child.cert.verify(issuer.cert.publicKey);
}

/** Depth-first: each yielded path runs leaf → … → a trusted root, without repeating a certificate or a CA identity. */
function* candidatePaths(
  leaf: Node,
  pool: readonly Node[],
  roots: readonly Node[],
  rootKeys: Set<string>,
): Generator<Node[]> {
  const path: Node[] = [leaf];
  const identities = new Set<string>([identity(leaf)]);
  function* extend(): Generator<Node[]> {
    const tip = path[path.length - 1] as Node;
    for (const root of roots) {
      if (issues(root, tip)) yield [...path, root];
    }
    if (path.length > MAX_INTERMEDIATES) return;
    for (const next of pool) {
      if (rootKeys.has(next.key) || identities.has(identity(next)) || path.some((n) => n.key === next.key)) continue;
      if (!issues(next, tip)) continue;
      path.push(next);
      identities.add(identity(next));
      yield* extend();
      identities.delete(identity(next));
      path.pop();
    }
  }
  yield* extend();
}

/** A CA's identity is its name and key: a re-issued copy of the same CA must not appear twice on a path. */
function identity(n: Node): string {
  return `${n.facts.subject}\u0000${n.facts.spkiSha256}`;
}

function checkPath(path: readonly Node[], input: PathValidationInput): void {
  const chain = path.map((n) => n.facts);
  for (const [i, f] of chain.entries()) {
    const role = i === 0 ? 'leaf' : i === chain.length - 1 ? 'root' : 'intermediate';
    checkCertificate(f, role, input);
    if (role !== 'root') {
      const issuer = chain[i + 1] as X509Facts;
      if (f.authorityKeyId === undefined)
        untrusted('aki', `the ${role} "${f.subject}" has no authority key identifier`);
      if (issuer.subjectKeyId !== undefined && f.authorityKeyId !== issuer.subjectKeyId) {
        untrusted('aki', `the ${role} "${f.subject}" names another authority key than its issuer's`);
      }
    }
  }
  checkPathLength(chain);
}

function checkCertificate(f: X509Facts, role: 'leaf' | 'intermediate' | 'root', input: PathValidationInput): void {
  const what = `the ${role} "${f.subject}"`;
  if (f.version !== 3) untrusted('version', `${what} is an X.509 v${f.version} certificate; only v3 is accepted`);
  if (input.now < f.notBefore)
    untrusted('not-yet-valid', `${what} is not valid before ${new Date(f.notBefore).toISOString()}`);
  if (input.now > f.notAfter) untrusted('expired', `${what} expired at ${new Date(f.notAfter).toISOString()}`);
  if (!f.signatureAlgorithmsMatch)
    untrusted('signature-algorithm', `${what} has differing inner and outer signature algorithms`);
  if (role !== 'root' && !ACCEPTED_SIGNATURES.has(f.signatureAlgorithmOid)) {
    untrusted(
      'signature-algorithm',
      `${what} is signed with algorithm ${f.signatureAlgorithmOid}; SHA-256 or stronger RSA/ECDSA is required`,
    );
  }
  if (f.issuer === '') untrusted('empty-issuer', `${what} has an empty issuer name`);
  for (const e of f.extensions) {
    if (e.critical && !PROCESSED_EXTENSIONS.has(e.oid))
      untrusted('critical-extension', `${what} has critical extension ${e.oid}, which this validator does not process`);
    if (e.oid === EXT_OIDS.nameConstraints)
      untrusted('name-constraints', `${what} carries name constraints, which this validator does not support`);
  }
  if (f.subject === '' && !f.extensions.some((e) => e.oid === EXT_OIDS.subjectAltName && e.critical)) {
    untrusted('san', `${what} has an empty subject, so its subjectAltName must be present and critical`);
  }
  if (
    f.authorityKeyIdHasCertId ||
    (f.extensions.some((e) => e.oid === EXT_OIDS.authorityKeyId) && f.authorityKeyId === undefined)
  ) {
    untrusted('aki', `${what} has an authority key identifier without a plain key identifier`);
  }
  // Only a self-signed root must name itself; a self-issued intermediate may be a re-keyed CA with another key.
  if (
    role === 'root' &&
    f.subject === f.issuer &&
    f.authorityKeyId !== undefined &&
    f.subjectKeyId !== undefined &&
    f.authorityKeyId !== f.subjectKeyId
  ) {
    untrusted('aki', `${what} is self-signed but its authority key identifier differs from its subject key identifier`);
  }
  if (f.isCa && f.keyUsagePresent && !f.keyUsage.includes('keyCertSign'))
    untrusted('key-usage', `${what} is a CA without the keyCertSign key usage`);
  if (!f.isCa && f.keyUsage.includes('keyCertSign')) untrusted('key-usage', `${what} has keyCertSign but is not a CA`);
  if (role === 'leaf') {
    checkEku(f, input.requiredEku, what, false);
    return;
  }
  if (!f.basicConstraintsPresent || !f.isCa)
    untrusted('not-ca', `${what} issues certificates but is not a CA (basicConstraints CA:true missing)`);
  if (!f.basicConstraintsCritical) untrusted('basic-constraints', `${what} must mark basicConstraints critical`);
  if (f.subject === '') untrusted('empty-subject', `${what} is a CA with an empty subject`);
  if (f.subjectKeyId === undefined) untrusted('ski', `${what} is a CA without a subject key identifier`);
  checkEku(f, input.requiredEku, what, true);
}

function checkEku(f: X509Facts, required: string | undefined, what: string, isCa: boolean): void {
  if (required === undefined || !f.extKeyUsagePresent) return;
  if (f.extKeyUsage.includes(required) || f.extKeyUsage.includes(EKU_OIDS.anyExtendedKeyUsage)) return;
  untrusted('eku', `${what} ${isCa ? 'restricts its subordinates to' : 'has'} extended key usages without ${required}`);
}

/** RFC 5280 6.1.4 (l)/(m): non-self-issued intermediates count against every pathLen above them; the root's applies too. */
function checkPathLength(chain: readonly X509Facts[]): void {
  const root = chain[chain.length - 1] as X509Facts;
  let remaining = root.pathLen ?? Number.POSITIVE_INFINITY;
  for (let i = chain.length - 2; i >= 1; i--) {
    const f = chain[i] as X509Facts;
    if (f.subject !== f.issuer) {
      if (remaining <= 0)
        untrusted('path-len', `the intermediate "${f.subject}" exceeds the pathLen constraint of a CA above it`);
      remaining--;
    }
    if (f.pathLen !== undefined) remaining = Math.min(remaining, f.pathLen);
  }
}
