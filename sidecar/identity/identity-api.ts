import type { TlsMaterial } from './credential-source.ts';
import type { X509PopDevice } from './x509pop-device.ts';

/** The trust state the control plane returns with every SVID. */
export interface IssuedTrustWire {
  readonly trustDomain: string;
  /** DER of each root CA of the trust domain. */
  readonly roots: Uint8Array[];
  readonly bundleSequence: number;
  /** The SPIFFE bundle (JWKS JSON, X.509 and JWT keys), empty from a control plane without JWT keys. */
  readonly spiffeBundle?: Uint8Array;
}

/** An issuance as it comes off the wire: nothing in it is trusted until the manager has validated it. */
export interface IssuedSvidWire {
  /** Leaf first, then intermediates; DER. */
  readonly chain: Uint8Array[];
  readonly trust: IssuedTrustWire;
}

/**
 * The port the SVID manager calls to get certificates (implemented over gRPC by `GrpcIdentityApi`, by a typed fake in
 * tests). Failures reject, preferably with a SigilError whose `code` says what went wrong; the manager logs the code,
 * keeps the current SVID and retries.
 */
export interface IdentityApi {
  /** First contact: the join token proves who we are; the server is authenticated by the bootstrap bundle. */
  attest(joinToken: string, csrDer: Uint8Array): Promise<IssuedSvidWire>;
  /** First contact by x509pop: the device key signs the control plane's nonce and the CSR's hash. */
  attestX509Pop?(device: X509PopDevice, csrDer: Uint8Array): Promise<IssuedSvidWire>;
  /** mTLS with `current` as the client certificate. */
  renew(current: TlsMaterial, csrDer: Uint8Array): Promise<IssuedSvidWire>;
}

/** A JWT-SVID as minted by the control plane; not trusted until validated against the JWT bundle. */
export interface MintedJwtSvid {
  readonly token: string;
  readonly expiresAt: number;
}

/**
 * What the Workload API needs of the control plane, on top of the sidecar's own issuance: credentials for the
 * workload beside the sidecar, asked for over mTLS with the sidecar's current SVID.
 */
export interface WorkloadIdentityApi {
  /** An SVID of the same SPIFFE ID for another key; `replacesSerial` is the workload's previous one, or ''. */
  issueWorkloadSvid(current: TlsMaterial, csrDer: Uint8Array, replacesSerial: string): Promise<IssuedSvidWire>;
  mintJwtSvid(current: TlsMaterial, audience: readonly string[]): Promise<MintedJwtSvid>;
}
