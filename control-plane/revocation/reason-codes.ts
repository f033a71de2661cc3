import { ErrorCode, SigilError } from '../../common/errors.ts';

/**
 * RFC 5280 section 5.3.1 CRLReason names and codes. removeFromCRL (8) is left out: it only has meaning in delta
 * CRLs, which Sigil does not issue. Code 7 is unassigned.
 */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;

export type RevocationReason = keyof typeof REVOCATION_REASONS;

export const REVOCATION_REASON_NAMES = Object.keys(REVOCATION_REASONS) as readonly RevocationReason[];

export function isRevocationReason(name: string): name is RevocationReason {
  return Object.hasOwn(REVOCATION_REASONS, name);
}

/** The reason by its exact RFC 5280 name; empty means unspecified. Anything else: INVALID_ARGUMENT listing the names. */
export function parseRevocationReason(name: string): RevocationReason {
  if (name === '') return 'unspecified';
  if (isRevocationReason(name)) return name;
  throw new SigilError(
    ErrorCode.INVALID_ARGUMENT,
    `unknown revocation reason ${JSON.stringify(name)}: use one of ${REVOCATION_REASON_NAMES.join(', ')}`,
  );
}

export function reasonCode(reason: RevocationReason): number {
  return REVOCATION_REASONS[reason];
}

/** The name of an RFC 5280 reason code, or undefined for a code Sigil does not issue. */
export function reasonName(code: number): RevocationReason | undefined {
  return REVOCATION_REASON_NAMES.find((name) => REVOCATION_REASONS[name] === code);
}
