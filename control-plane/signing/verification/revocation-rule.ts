/**
 * Revocation against a signature's time, as a pure rule. `signedBy` is the latest moment the signature can be
 * proven to have existed (the timestamp's genTime plus its accuracy), or undefined for an untimestamped signature.
 *
 * - A compromised key (keyCompromise, cACompromise, aACompromise) invalidates every signature timestamped at or after
 *   the revocation's effective time; with the strict rule, every signature of that key, whenever it was made.
 * - Any other reason invalidates only signatures timestamped after the effective time.
 * - An untimestamped signature proves no time: any revocation invalidates it.
 *
 * The effective time is the CRL entry's invalidity date when it has one (`sigil revoke --effective`), else the
 * revocation date.
 */

export interface RevocationEntry {
  /** Lowercase hex without leading zeros. */
  readonly serial: string;
  readonly revokedAt: number;
  readonly effectiveAt: number;
  /** RFC 5280 reason name. */
  readonly reason: string;
}

const COMPROMISE = new Set(['keyCompromise', 'cACompromise', 'aACompromise']);

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Why the revocation invalidates the signature, or undefined when the signature stands. */
export function revocationProblem(
  entry: RevocationEntry,
  signedBy: number | undefined,
  strictKeyCompromise: boolean,
): string | undefined {
  const what = `revoked (${entry.reason}) with effect from ${iso(entry.effectiveAt)}`;
  if (signedBy === undefined) {
    return `${what}; an untimestamped signature is valid only while its certificate is unrevoked`;
  }
  if (COMPROMISE.has(entry.reason)) {
    if (strictKeyCompromise) return `${what}; the strict rule refuses every signature made with a compromised key`;
    if (signedBy >= entry.effectiveAt)
      return `${what}; the timestamp proves the signature only by ${iso(signedBy)}, not before that`;
    return undefined;
  }
  if (signedBy > entry.effectiveAt)
    return `${what}; the timestamp proves the signature only by ${iso(signedBy)}, after that`;
  return undefined;
}

/** One spelling per serial: lowercase, no separators, no leading zeros. */
export function normalSerial(hex: string): string {
  return hex
    .toLowerCase()
    .replace(/[:\s]/g, '')
    .replace(/^0+(?=.)/, '');
}
