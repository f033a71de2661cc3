import { z } from 'zod';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { parseX509Facts } from '../../common/x509-facts.ts';
import type { AriWindow } from './renewal-schedule.ts';

/**
 * ACME Renewal Information (RFC 9773). The certificate identifier is base64url(AKI keyIdentifier) "."
 * base64url(serial), the serial as its DER INTEGER content octets (with the leading zero a positive serial whose
 * high bit is set carries).
 */
export function ariCertificateId(der: Uint8Array): string {
  const facts = parseX509Facts(der);
  if (facts.authorityKeyId === undefined) {
    throw new SigilError(
      ErrorCode.ACME_UNSUPPORTED,
      `certificate ${facts.serial} has no authority key identifier, so it has no ARI identifier`,
    );
  }
  let serialHex = facts.serial.length % 2 === 1 ? `0${facts.serial}` : facts.serial;
  if (Number.parseInt(serialHex.slice(0, 1), 16) >= 8) serialHex = `00${serialHex}`;
  return `${Buffer.from(facts.authorityKeyId, 'hex').toString('base64url')}.${Buffer.from(serialHex, 'hex').toString('base64url')}`;
}

const renewalInfoSchema = z.object({
  suggestedWindow: z.object({ start: z.iso.datetime({ offset: true }), end: z.iso.datetime({ offset: true }) }),
  explanationURL: z.string().optional(),
});

export interface RenewalInfo {
  readonly window: AriWindow;
  readonly explanationUrl?: string;
}

/**
 * Reads a renewalInfo response body. A window whose end is not after its start is invalid (RFC 9773 4.2): the
 * client then acts as if it had no renewal information.
 */
export function parseRenewalInfo(body: unknown): RenewalInfo | undefined {
  const parsed = renewalInfoSchema.safeParse(body);
  if (!parsed.success) return undefined;
  const start = Date.parse(parsed.data.suggestedWindow.start);
  const end = Date.parse(parsed.data.suggestedWindow.end);
  if (!(end > start)) return undefined;
  return {
    window: { start, end },
    ...(parsed.data.explanationURL !== undefined ? { explanationUrl: parsed.data.explanationURL } : {}),
  };
}
