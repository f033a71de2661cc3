import type { InventoryEntry } from './inventory-entry.ts';

export type FindingSeverity = 'critical' | 'warning';

/** One judgement on a certificate or an endpoint: a stable rule id, a severity and what to do about it. */
export interface Finding {
  readonly ruleId: string;
  readonly severity: FindingSeverity;
  /** The certificate (`<source> <serial> (<name>)`) or endpoint (`host:port`) judged. */
  readonly target: string;
  readonly message: string;
}

const DAY_MS = 86_400_000;
/** CA/Browser Forum limit for publicly trusted TLS certificates issued since September 2020. */
const PUBLIC_TLS_MAX_DAYS = 398;

type CertificateFacts = Pick<
  InventoryEntry,
  | 'source'
  | 'kind'
  | 'serial'
  | 'name'
  | 'status'
  | 'keyAlgorithm'
  | 'keyBits'
  | 'signatureHash'
  | 'selfSigned'
  | 'isCa'
  | 'dnsNames'
  | 'uris'
  | 'ips'
  | 'notBefore'
  | 'notAfter'
>;

/** One rule: a small function that returns a finding or nothing (the step-ca validator pattern). */
type CertificateRule = (c: CertificateFacts, target: string) => Omit<Finding, 'target'> | undefined;

const CERTIFICATE_RULES: readonly CertificateRule[] = [
  (c) =>
    c.keyAlgorithm === 'rsa' && c.keyBits < 2048
      ? {
          ruleId: 'key.rsa-weak',
          severity: 'critical',
          message: `RSA key of ${c.keyBits} bits: reissue with RSA 2048+ or ECDSA P-256`,
        }
      : undefined,
  (c) =>
    c.keyAlgorithm === 'ec' && c.keyBits < 256
      ? {
          ruleId: 'key.ec-weak',
          severity: 'critical',
          message: `EC key of ${c.keyBits || 'unknown'} bits: reissue with P-256 or P-384`,
        }
      : undefined,
  (c) =>
    (c.signatureHash === 'SHA-1' || c.signatureHash === 'MD5') && !(c.isCa && c.selfSigned)
      ? {
          ruleId: 'signature.weak-hash',
          severity: 'critical',
          message: `signed with ${c.signatureHash}, which is broken for signatures: reissue with SHA-256 or better`,
        }
      : undefined,
  (c) =>
    c.selfSigned && !c.isCa
      ? {
          ruleId: 'leaf.self-signed',
          severity: 'warning',
          message: 'a self-signed leaf certificate: clients cannot revoke or rotate trust in it; issue it from a CA',
        }
      : undefined,
  (c) =>
    !c.isCa && c.dnsNames.length + c.uris.length + c.ips.length === 0
      ? {
          ruleId: 'san.missing',
          severity: 'warning',
          message: 'no subjectAltName: clients ignore the CN; reissue with the DNS names or URIs it serves',
        }
      : undefined,
  (c) =>
    isPublicTls(c) && c.notAfter - c.notBefore > PUBLIC_TLS_MAX_DAYS * DAY_MS
      ? {
          ruleId: 'validity.public-tls-too-long',
          severity: 'warning',
          message: `valid for ${Math.round((c.notAfter - c.notBefore) / DAY_MS)} days, over the ${PUBLIC_TLS_MAX_DAYS} browsers accept: reissue with a shorter lifetime`,
        }
      : undefined,
  // An SVID is renewed by its sidecar or dies with its workload: an expired one is history, not a finding.
  (c) =>
    c.status === 'expired' && c.kind !== 'svid'
      ? {
          ruleId: 'validity.expired',
          severity: 'critical',
          message: `expired at ${new Date(c.notAfter).toISOString()}: replace it, or remove it from the inventory if retired`,
        }
      : undefined,
];

/** A TLS server certificate not issued inside the mesh: what browsers judge by the public rules. */
function isPublicTls(c: CertificateFacts): boolean {
  return (
    !c.isCa && c.dnsNames.length > 0 && (c.source === 'imported' || c.source === 'discovered' || c.source === 'acme')
  );
}

export function certificateTarget(c: Pick<InventoryEntry, 'source' | 'serial' | 'name'>): string {
  return `${c.source} ${c.serial} (${c.name})`;
}

/** The findings of one certificate. Superseded and revoked certificates are history: they are not judged. */
export function certificateFindings(c: CertificateFacts, target = certificateTarget(c)): Finding[] {
  if (c.status === 'superseded' || c.status === 'revoked') return [];
  return CERTIFICATE_RULES.flatMap((rule) => {
    const f = rule(c, target);
    return f ? [{ ...f, target }] : [];
  });
}

/** Worst severity first, then rule id: a stable order for reports and tests. */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  const rank = (s: FindingSeverity) => (s === 'critical' ? 0 : 1);
  return [...findings].sort(
    (a, b) =>
      rank(a.severity) - rank(b.severity) || a.target.localeCompare(b.target) || a.ruleId.localeCompare(b.ruleId),
  );
}
