import { ErrorCode, SigilError } from '../../common/errors.ts';

// The x509pop SPIFFE ID template, apart from the attestor: config loading checks it without loading X.509 code.
export const DEFAULT_X509POP_TEMPLATE = 'spiffe://{{ .TrustDomain }}/x509pop/{{ .Fingerprint }}';
export const X509POP_PLACEHOLDER = /\{\{\s*\.([A-Za-z.]+)\s*\}\}/g;
const KNOWN_FIELDS = new Set(['TrustDomain', 'Subject.CommonName', 'CN', 'Fingerprint']);
/** Throws CONFIG_INVALID naming the first unknown placeholder; run at config load. */
export function checkX509PopTemplate(template: string, where: string): void {
  for (const match of template.matchAll(X509POP_PLACEHOLDER)) {
    if (!KNOWN_FIELDS.has(match[1] ?? '')) {
      throw new SigilError(
        ErrorCode.CONFIG_INVALID,
        `${where}: unknown placeholder {{ .${match[1]} }}: use {{ .TrustDomain }}, {{ .Subject.CommonName }} (or {{ .CN }}) or {{ .Fingerprint }}`,
      );
    }
  }
  if (!template.startsWith('spiffe://'))
    throw new SigilError(ErrorCode.CONFIG_INVALID, `${where}: the template must start with spiffe://`);
}
