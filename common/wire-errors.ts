import { ErrorCode, SigilError } from './errors.ts';

/** gRPC status numbers (stable across implementations), so both sides map codes without importing grpc-js here. */
export const GrpcStatus = {
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  FAILED_PRECONDITION: 9,
  RESOURCE_EXHAUSTED: 8,
  ABORTED: 10,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** Trailer that carries the Sigil error code, so clients branch on codes rather than on status text. */
export const ERROR_CODE_METADATA_KEY = 'sigil-error-code';

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.CERTIFICATE_INPUT]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCode.TOKEN_INVALID]: GrpcStatus.UNAUTHENTICATED,
  [ErrorCode.TOKEN_EXPIRED]: GrpcStatus.UNAUTHENTICATED,
  [ErrorCode.TOKEN_USED]: GrpcStatus.UNAUTHENTICATED,
  [ErrorCode.PEER_UNAUTHENTICATED]: GrpcStatus.UNAUTHENTICATED,
  [ErrorCode.TOKEN_SPIFFE_ID_MISMATCH]: GrpcStatus.PERMISSION_DENIED,
  [ErrorCode.PEER_NOT_ADMIN]: GrpcStatus.PERMISSION_DENIED,
  [ErrorCode.PEER_ID_MISMATCH]: GrpcStatus.PERMISSION_DENIED,
  [ErrorCode.REVOKED]: GrpcStatus.PERMISSION_DENIED,
  [ErrorCode.NOT_FOUND]: GrpcStatus.NOT_FOUND,
  [ErrorCode.CA_EXISTS]: GrpcStatus.ALREADY_EXISTS,
  [ErrorCode.UNAVAILABLE]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.INTERNAL]: GrpcStatus.INTERNAL,
  [ErrorCode.STORE_CORRUPT]: GrpcStatus.INTERNAL,
  [ErrorCode.STORE_MISSING]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.TRUST_STATE_CHANGED]: GrpcStatus.ABORTED,
  [ErrorCode.RATE_LIMITED]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorCode.CA_MISSING]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.DASHBOARD_OFF]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.CA_ROTATION_STATE]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.CA_ROTATION_BLOCKED]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.ACME_UNREACHABLE]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.ACME_RATE_LIMITED]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.ACME_SERVER]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.ACME_PROBLEM]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.ACME_CHALLENGE_FAILED]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.ACME_CHALLENGE_SETUP]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.ACME_CHAIN_MISMATCH]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.ACME_UNSUPPORTED]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.ACME_INSTALL_FAILED]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.ACME_RELOAD_FAILED]: GrpcStatus.FAILED_PRECONDITION,
};

/** Everything not listed is the caller's input being wrong. */
export function grpcStatusFor(code: ErrorCode): number {
  return STATUS_BY_CODE[code] ?? GrpcStatus.INVALID_ARGUMENT;
}

/** What a gRPC client sees of a failed call, structurally (grpc-js `ServiceError`). */
export interface WireFailure {
  readonly code?: number;
  readonly details?: string;
  readonly message?: string;
  readonly metadata?: { get(key: string): unknown[] };
}

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

/** OpenSSL's verification failures as grpc-js reports them when the server's chain does not reach our roots. */
const UNTRUSTED_SERVER =
  /unable to get local issuer certificate|self[- ]signed certificate|unable to verify the first certificate|certificate verify failed|CERT_SIGNATURE_FAILURE/i;

/** OpenSSL's X509_V_ERR_CERT_NOT_YET_VALID as grpc-js reports it. */
const NOT_YET_VALID = /certificate is not yet valid|CERT_NOT_YET_VALID/i;

/** Rebuilds a SigilError on the client side, keeping the server's code and message. */
export function errorFromWire(failure: WireFailure, context: string): SigilError {
  const raw = failure.metadata?.get(ERROR_CODE_METADATA_KEY)[0];
  const sent = typeof raw === 'string' && KNOWN_CODES.has(raw) ? (raw as ErrorCode) : undefined;
  const text = failure.details || failure.message || 'no details';
  if (sent) return new SigilError(sent, `${context}: ${text}`);
  // The TLS handshake reached the control plane but its certificate did not verify: not an outage.
  if (failure.code === GrpcStatus.UNAVAILABLE && UNTRUSTED_SERVER.test(text)) {
    return new SigilError(
      ErrorCode.CONTROL_PLANE_UNTRUSTED,
      `${context}: the control plane's certificate does not chain to the bundle you gave (${text.replace(/^No connection established\. Last error: (Error: )?/, '').replace(/\. Resolution note:.*$/, '')}); use the bundle.pem of the CA this control plane belongs to`,
    );
  }
  // A reachable control plane whose certificate starts in this host's future: a clock problem, not an outage.
  if (failure.code === GrpcStatus.UNAVAILABLE && NOT_YET_VALID.test(text)) {
    return new SigilError(
      ErrorCode.CLOCK_SKEW,
      `${context}: the control plane's certificate is not valid yet by this host's clock: this clock is behind the control plane's; fix time synchronisation (NTP) on both hosts`,
    );
  }
  if (failure.code === GrpcStatus.UNAVAILABLE) {
    return new SigilError(
      ErrorCode.UNAVAILABLE,
      `${context}: control plane unreachable (${text}); is it running, and are the address and bundle right?`,
    );
  }
  return new SigilError(ErrorCode.INTERNAL, `${context}: ${text}`);
}

export type UnaryCallback<Res> = (err: WireFailure | null, response?: Res) => void;

/** Promise form of a grpc-js unary client method; failures come back as SigilErrors with the server's code. */
export function callUnary<Res>(context: string, invoke: (callback: UnaryCallback<Res>) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    invoke((err, response) => {
      if (err) reject(errorFromWire(err, context));
      else if (response === undefined) reject(new SigilError(ErrorCode.INTERNAL, `${context}: empty response`));
      else resolve(response);
    });
  });
}
