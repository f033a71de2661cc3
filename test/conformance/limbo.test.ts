import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { isSigilError } from '../../common/errors.ts';
import { validatePath } from '../../common/path-validator.ts';
import { EKU_OIDS } from '../../common/x509-facts.ts';
import { pemCertificatesToDer } from '../../common/trust-bundle.ts';

/**
 * Runs the x509-limbo suite (see /work/shared/conformance/README.md) through common/path-validator.ts.
 * Peer-name matching is not part of the validator; this harness does it with node:crypto's checkHost/checkIP
 * (OpenSSL's RFC 6125 matcher), because limbo's SERVER cases expect it.
 */

const LIMBO =
  process.env.SIGIL_LIMBO_FILE ??
  fileURLToPath(new URL('../../../shared/conformance/x509-limbo-2023-12-02.json', import.meta.url));
/** Used when a case gives no validation time; limbo's synthetic certificates are valid from 1970 to 2969. */
const DEFAULT_TIME = Date.parse('2023-12-02T00:00:00Z');

/** Features the validator deliberately does not implement: their cases are skipped. */
const UNIMPLEMENTED_FEATURES = new Set([
  'max-chain-depth', // no depth option beyond the fixed limit of 8 intermediates
  'name-constraint-dn', // name constraints are refused outright (see below)
  'pedantic-webpki',
  'pedantic-webpki-eku',
  'pedantic-serial-number',
  'pedantic-rfc5280',
  'pedantic-public-suffix-wildcard',
  'rfc5280-incompatible-with-webpki',
]);

/** Cases whose expected result we knowingly do not reach, with the reason. */
const KNOWN_UNSUPPORTED: Readonly<Record<string, string>> = {
  'rfc5280::nc::permitted-dns-match':
    'name constraints are not implemented: any nameConstraints extension fails the path (fail closed)',
  'rfc5280::nc::permitted-dns-match-more': 'name constraints not implemented (fail closed)',
  'rfc5280::nc::permitted-ipv4-match': 'name constraints not implemented (fail closed)',
  'rfc5280::nc::permitted-ipv6-match': 'name constraints not implemented (fail closed)',
  'rfc5280::nc::permitted-self-issued': 'name constraints not implemented (fail closed)',
  'rfc5280::nc::permitted-different-constraint-type': 'name constraints not implemented (fail closed)',
  'rfc5280::nc::excluded-different-constraint-type': 'name constraints not implemented (fail closed)',
  'webpki::nc::permitted-dns-match-noncritical': 'name constraints not implemented (fail closed)',
  'webpki::san::san-critical-with-nonempty-subject':
    'a critical SAN beside a non-empty subject is only a SHOULD NOT in RFC 5280; accepted',
};

interface LimboCase {
  readonly id: string;
  readonly features: readonly string[] | null;
  readonly validation_kind: string;
  readonly trusted_certs: readonly string[];
  readonly untrusted_intermediates: readonly string[];
  readonly peer_certificate: string;
  readonly validation_time: string | null;
  readonly extended_key_usage: readonly string[] | null;
  readonly expected_result: 'SUCCESS' | 'FAILURE';
  readonly expected_peer_name: { readonly kind: string; readonly value: string } | null;
}

const EKU_BY_NAME: Readonly<Record<string, string>> = {
  serverAuth: EKU_OIDS.serverAuth,
  clientAuth: EKU_OIDS.clientAuth,
};

function derOf(pems: readonly string[]): Uint8Array[] {
  return pems.flatMap((p) => pemCertificatesToDer(p));
}

function peerNameMatches(leaf: Uint8Array, name: LimboCase['expected_peer_name']): boolean {
  if (name === null) return true;
  const cert = new X509Certificate(leaf);
  if (name.kind === 'DNS')
    return cert.checkHost(name.value, { subject: 'never', wildcards: true, partialWildcards: false }) !== undefined;
  if (name.kind === 'IP') return cert.checkIP(name.value) !== undefined;
  return false;
}

/** Returns 'SUCCESS' or 'FAILURE: <reason>'. */
function run(c: LimboCase): string {
  let leaf: Uint8Array;
  try {
    const [first] = pemCertificatesToDer(c.peer_certificate);
    if (!first) return 'FAILURE: no peer certificate';
    leaf = first;
    validatePath({
      leaf,
      intermediates: derOf(c.untrusted_intermediates),
      roots: derOf(c.trusted_certs),
      now: c.validation_time ? Date.parse(c.validation_time) : DEFAULT_TIME,
      requiredEku: EKU_BY_NAME[c.extended_key_usage?.[0] ?? 'serverAuth'] ?? EKU_OIDS.serverAuth,
    });
  } catch (err) {
    if (isSigilError(err)) return `FAILURE: ${String(err.details.reason ?? err.code)} (${err.message})`;
    return `FAILURE: unexpected ${String(err)}`;
  }
  return peerNameMatches(leaf, c.expected_peer_name) ? 'SUCCESS' : 'FAILURE: peer name does not match';
}

// The suite lives in the shared/ folder beside the repository (as CI lays it out); a checkout without it skips
// this file and says why, rather than failing on a missing fixture.
const available = existsSync(LIMBO);
const cases = available ? (JSON.parse(readFileSync(LIMBO, 'utf8')) as { testcases: LimboCase[] }).testcases : [];

t.test(
  'x509-limbo',
  { skip: available ? false : `x509-limbo data not found at ${LIMBO} (set SIGIL_LIMBO_FILE)` },
  async (t) => {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const knownSeen = new Set<string>();
    for (const c of cases) {
      if (c.validation_kind !== 'SERVER' || (c.features ?? []).some((f) => UNIMPLEMENTED_FEATURES.has(f))) {
        skipped++;
        continue;
      }
      const got = run(c);
      const ok = got.split(':')[0] === c.expected_result;
      if (ok) passed++;
      else failed++;
      if (c.id in KNOWN_UNSUPPORTED) {
        knownSeen.add(c.id);
        t.notOk(ok, `${c.id} is listed as known-unsupported but now matches: remove it from the list`);
      } else {
        t.ok(ok, `${c.id}: expected ${c.expected_result}, got ${got}`);
      }
    }
    t.same(
      [...knownSeen].sort(),
      Object.keys(KNOWN_UNSUPPORTED).sort(),
      'every known-unsupported id exists and was run',
    );
    t.comment(
      `${passed} passed, ${failed} failed, ${skipped} skipped (${Object.keys(KNOWN_UNSUPPORTED).length} failures known-unsupported)`,
    );
    console.log(`x509-limbo conformance run: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  },
);
