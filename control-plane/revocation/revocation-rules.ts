import { ErrorCode, SigilError } from '../../common/errors.ts';
import { controlPlaneId, isAdminId, parseSpiffeId } from '../../common/spiffe-id.ts';
import type { CertificateRecord } from '../store/store.ts';

/** The rules of revocation as pure functions of their inputs (and `now`), so each is table-tested on its own. */

export const CRL_VALIDITY_MS = 24 * 3_600_000;
/** The CRL is re-signed at this fraction of its validity, well before relying parties would call it stale. */
export const CRL_REFRESH_FRACTION = 0.75;
/** An expired certificate's entry stays this long past its notAfter, for relying parties with skewed clocks. */
export const EXPIRED_ENTRY_MARGIN_MS = 3_600_000;
/** How far in the future an effective time may be (client clock skew) before it is refused. */
export const EFFECTIVE_TIME_SKEW_MS = 60_000;

const HEX = /^[0-9a-f]{1,64}$/;

/**
 * A serial as operators paste it (any case, `:` or space separated) to lowercase hex. Anything else is
 * INVALID_ARGUMENT, before any lookup.
 */
export function parseSerial(text: string): string {
  const hex = text.trim().toLowerCase().replace(/[:\s]/g, '');
  if (!HEX.test(hex)) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `malformed serial ${JSON.stringify(text)}: give it in hex (at most 64 digits, ':' separators allowed), as sigil certs list shows it`,
    );
  }
  return hex;
}

/**
 * Spellings of one serial the inventory may hold: as given, without leading zeros, and with the zero padding a
 * DER integer adds. The first that exists is the certificate.
 */
export function serialCandidates(hex: string): string[] {
  const bare = hex.replace(/^0+(?=.)/, '');
  return [...new Set([hex, bare, `0${bare}`, `00${bare}`])];
}

/** The moment the revocation takes effect: now when not given; a past time is kept; the future is refused. */
export function effectiveTime(requested: number | undefined, now: number): number {
  if (requested === undefined || requested === 0) return now;
  if (!Number.isSafeInteger(requested) || requested < 0) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `effective time ${requested} is not a valid Unix time in milliseconds`,
    );
  }
  if (requested > now + EFFECTIVE_TIME_SKEW_MS) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `effective time ${new Date(requested).toISOString()} is in the future: revocation takes effect at once; give the past moment from which the certificate is untrusted, or none`,
    );
  }
  return Math.min(requested, now);
}

export type Protection = 'ca' | 'control-plane' | 'admin';

/** Why revoking this certificate needs care: a CA certificate, the control plane's own SVID or an admin SVID. */
export function protectionOfCertificate(record: CertificateRecord, trustDomain: string): Protection | undefined {
  if (record.kind === 'root' || record.kind === 'intermediate') return 'ca';
  if (record.kind === 'control-plane' || record.spiffeId === controlPlaneId(trustDomain)) return 'control-plane';
  if (record.kind === 'admin') return 'admin';
  return protectionOfIdentity(record.spiffeId, trustDomain);
}

export function protectionOfIdentity(spiffeId: string, trustDomain: string): Protection | undefined {
  if (spiffeId === controlPlaneId(trustDomain)) return 'control-plane';
  try {
    return isAdminId(parseSpiffeId(spiffeId)) ? 'admin' : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Refuses (REVOKE_PROTECTED) what must not be revoked casually. A CA certificate is never revoked here: a CRL
 * signed by the intermediate cannot revoke the intermediate, and a root is removed by rotation instead.
 */
export function assertRevocable(protection: Protection | undefined, subject: string, force: boolean): void {
  if (protection === 'ca') {
    throw new SigilError(
      ErrorCode.REVOKE_PROTECTED,
      `${subject} is a CA certificate and cannot be revoked by a CRL it signs: replace the CA by rotation instead`,
    );
  }
  if (protection === 'control-plane' && !force) {
    throw new SigilError(
      ErrorCode.REVOKE_PROTECTED,
      `${subject} is the control plane's own identity: revoking it cuts every sidecar off from the control plane; add --force if that is meant`,
    );
  }
  if (protection === 'admin' && !force) {
    throw new SigilError(
      ErrorCode.REVOKE_PROTECTED,
      `${subject} is an admin identity: revoking it can lock operators out of the Admin API; add --force if that is meant`,
    );
  }
}

/** When a CRL signed at `thisUpdate` is re-signed. */
export function crlRefreshAt(thisUpdate: number, validityMs = CRL_VALIDITY_MS): number {
  return thisUpdate + Math.floor(validityMs * CRL_REFRESH_FRACTION);
}
