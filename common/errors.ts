/**
 * The error-code catalogue. Callers and tests branch on `code`, never on message text.
 * Messages say what was wrong and what to do next; they never contain key material or tokens.
 */
export const ErrorCode = {
  SPIFFE_ID_INVALID: 'SIGIL_ERR_SPIFFE_ID_INVALID',
  SPIFFE_ID_TRUST_DOMAIN: 'SIGIL_ERR_SPIFFE_ID_TRUST_DOMAIN',
  DURATION_INVALID: 'SIGIL_ERR_DURATION_INVALID',
  CONFIG_INVALID: 'SIGIL_ERR_CONFIG_INVALID',
  CSR_MALFORMED: 'SIGIL_ERR_CSR_MALFORMED',
  CSR_SIGNATURE: 'SIGIL_ERR_CSR_SIGNATURE',
  CSR_URI_SAN_COUNT: 'SIGIL_ERR_CSR_URI_SAN_COUNT',
  CSR_SPIFFE_ID_MISMATCH: 'SIGIL_ERR_CSR_SPIFFE_ID_MISMATCH',
  CSR_KEY_REUSED: 'SIGIL_ERR_CSR_KEY_REUSED',
  KEY_UNSUPPORTED: 'SIGIL_ERR_KEY_UNSUPPORTED',
  KEY_TOO_WEAK: 'SIGIL_ERR_KEY_TOO_WEAK',
  SIGNATURE_WEAK: 'SIGIL_ERR_SIGNATURE_WEAK',
  TOKEN_INVALID: 'SIGIL_ERR_TOKEN_INVALID',
  TOKEN_EXPIRED: 'SIGIL_ERR_TOKEN_EXPIRED',
  TOKEN_USED: 'SIGIL_ERR_TOKEN_USED',
  TOKEN_SPIFFE_ID_MISMATCH: 'SIGIL_ERR_TOKEN_SPIFFE_ID_MISMATCH',
  SVID_INVALID: 'SIGIL_ERR_SVID_INVALID',
  SVID_EXPIRED: 'SIGIL_ERR_SVID_EXPIRED',
  SVID_UNTRUSTED: 'SIGIL_ERR_SVID_UNTRUSTED',
  PEER_UNAUTHENTICATED: 'SIGIL_ERR_PEER_UNAUTHENTICATED',
  PEER_NOT_ADMIN: 'SIGIL_ERR_PEER_NOT_ADMIN',
  PEER_ID_MISMATCH: 'SIGIL_ERR_PEER_ID_MISMATCH',
  REVOKED: 'SIGIL_ERR_REVOKED',
  REVOKE_PROTECTED: 'SIGIL_ERR_REVOKE_PROTECTED',
  BUNDLE_INVALID: 'SIGIL_ERR_BUNDLE_INVALID',
  CA_EXISTS: 'SIGIL_ERR_CA_EXISTS',
  CA_MISSING: 'SIGIL_ERR_CA_MISSING',
  CA_PASSPHRASE: 'SIGIL_ERR_CA_PASSPHRASE',
  CA_EXPIRED: 'SIGIL_ERR_CA_EXPIRED',
  CA_INVALID: 'SIGIL_ERR_CA_INVALID',
  CA_ROTATION_STATE: 'SIGIL_ERR_CA_ROTATION_STATE',
  CA_ROTATION_BLOCKED: 'SIGIL_ERR_CA_ROTATION_BLOCKED',
  STORE_CORRUPT: 'SIGIL_ERR_STORE_CORRUPT',
  STORE_SCHEMA_NEWER: 'SIGIL_ERR_STORE_SCHEMA_NEWER',
  NOT_FOUND: 'SIGIL_ERR_NOT_FOUND',
  INVALID_ARGUMENT: 'SIGIL_ERR_INVALID_ARGUMENT',
  UNAVAILABLE: 'SIGIL_ERR_UNAVAILABLE',
  INTERNAL: 'SIGIL_ERR_INTERNAL',
  DEADLINE_EXCEEDED: 'SIGIL_ERR_DEADLINE_EXCEEDED',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface SigilErrorOptions {
  readonly details?: Readonly<Record<string, string | number | boolean>>;
  readonly cause?: unknown;
}

export class SigilError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, string | number | boolean>>;

  constructor(code: ErrorCode, message: string, options: SigilErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SigilError';
    this.code = code;
    this.details = options.details ?? {};
  }
}

export function isSigilError(err: unknown, code?: ErrorCode): err is SigilError {
  return err instanceof SigilError && (code === undefined || err.code === code);
}
