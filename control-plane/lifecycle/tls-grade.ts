import { certificateFindings, type Finding, sortFindings } from './compliance-rules.ts';
import { type CertificateDescription, describeCertificate, nameOf } from './inventory-entry.ts';
import type { TlsProbeReport } from './tls-probe.ts';

/**
 * Grades a probed endpoint in the spirit of SSL Labs: start at A, and each weakness caps the grade; every cap is
 * reported with its reason. A+ needs A with a long-lived HSTS header and nothing capped. Pure: report and `now` in.
 */

export const GRADES = ['A+', 'A', 'A-', 'B', 'C', 'F'] as const;
export type Grade = (typeof GRADES)[number];

export interface GradeReason {
  readonly cap: Grade;
  readonly finding: Finding;
}

export interface TlsGrade {
  readonly grade: Grade;
  readonly reasons: readonly GradeReason[];
  /** Every finding, capping or not, worst first. */
  readonly findings: readonly Finding[];
  readonly leaf: CertificateDescription | undefined;
  readonly hstsMaxAgeSeconds: number | undefined;
}

const SIX_MONTHS_S = 15_552_000;

export function parseHsts(value: string): { maxAge?: number; includeSubDomains: boolean; preload: boolean } {
  const parts = value.split(';').map((p) => p.trim().toLowerCase());
  const maxAge = parts
    .find((p) => p.startsWith('max-age='))
    ?.slice(8)
    .replace(/"/g, '');
  return {
    ...(maxAge !== undefined && /^\d+$/.test(maxAge) ? { maxAge: Number(maxAge) } : {}),
    includeSubDomains: parts.includes('includesubdomains'),
    preload: parts.includes('preload'),
  };
}

export function gradeTls(report: TlsProbeReport, now: number): TlsGrade {
  const target = report.endpoint;
  const reasons: GradeReason[] = [];
  const other: Finding[] = [];
  const cap = (grade: Grade, ruleId: string, severity: Finding['severity'], message: string) =>
    reasons.push({ cap: grade, finding: { ruleId, severity, target, message } });

  const legacy = report.protocols.filter((p) => p === 'TLSv1' || p === 'TLSv1.1');
  if (legacy.length > 0)
    cap('B', 'tls.legacy-protocol', 'critical', `offers ${legacy.join(' and ')}: disable everything below TLS 1.2`);
  if (!report.protocols.includes('TLSv1.3')) cap('A-', 'tls.no-tls13', 'warning', 'TLS 1.3 is not offered: enable it');
  const suites = Object.values(report.suites).flat();
  const nonFs = [...new Set(suites.filter((s) => !s.forwardSecret).map((s) => s.name))];
  if (nonFs.length > 0)
    cap(
      'B',
      'tls.no-forward-secrecy',
      'warning',
      `suites without forward secrecy: ${nonFs.join(', ')}; offer only ECDHE suites`,
    );
  const nonAead = [...new Set(suites.filter((s) => !s.aead).map((s) => s.name))];
  if (nonAead.length > 0)
    cap(
      'B',
      'tls.non-aead',
      'warning',
      `non-AEAD (CBC) suites: ${nonAead.join(', ')}; offer only GCM or ChaCha20-Poly1305`,
    );
  const broken = suites
    .filter((s) => /_RC4_|_3DES_|_DES_|_NULL_|_EXPORT_|_anon_/.test(`${s.name}_`))
    .map((s) => s.name);
  if (broken.length > 0) cap('F', 'tls.broken-suite', 'critical', `broken suites: ${broken.join(', ')}; remove them`);

  const leafDer = report.chain[0];
  const leaf = leafDer ? describeCertificate(leafDer) : undefined;
  if (!leaf) cap('F', 'chain.missing', 'critical', 'no certificate was served');
  if (leaf) {
    const status = now >= leaf.notAfter ? 'expired' : 'active';
    for (const f of certificateFindings(
      // Served as the endpoint's own certificate, it plays a leaf's role whatever its basicConstraints say.
      { ...leaf, isCa: false, source: 'discovered', kind: '', name: nameOf(leaf), status },
      `${target} ${leaf.serial}`,
    )) {
      if (f.severity === 'critical') reasons.push({ cap: 'F', finding: f });
      else if (f.ruleId === 'leaf.self-signed') reasons.push({ cap: 'F', finding: f });
      else other.push(f);
    }
  }
  if (!report.chainTrusted)
    cap(
      'F',
      'chain.untrusted',
      'critical',
      `the served chain does not verify (${report.chainError}): serve the full chain from a trusted CA`,
    );
  if (!report.nameMatches)
    cap(
      'F',
      'chain.name-mismatch',
      'critical',
      `the certificate is not valid for ${report.servername}: reissue it with that name`,
    );

  const hsts = report.hsts === null ? undefined : parseHsts(report.hsts);
  if (report.hsts === '')
    other.push({
      ruleId: 'http.no-hsts',
      severity: 'warning',
      target,
      message: 'HTTPS without Strict-Transport-Security: add it with max-age of at least 6 months',
    });
  const rank = (g: Grade) => GRADES.indexOf(g);
  const capped = reasons.reduce<Grade>((g, r) => (rank(r.cap) > rank(g) ? r.cap : g), 'A');
  const grade = capped === 'A' && hsts?.maxAge !== undefined && hsts.maxAge >= SIX_MONTHS_S ? 'A+' : capped;
  return {
    grade,
    reasons,
    findings: sortFindings([...reasons.map((r) => r.finding), ...other]),
    leaf,
    hstsMaxAgeSeconds: hsts?.maxAge,
  };
}
