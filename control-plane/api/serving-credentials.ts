import { experimental, type ServerCredentials } from '@grpc/grpc-js';

type Listener<T> = (update: T | null) => void;
type CaUpdate = experimental.CaCertificateUpdate;
type IdentityUpdate = experimental.IdentityCertificateUpdate;

/**
 * Hands the control plane's serving certificate and trust bundle to grpc-js and replays the latest value to late
 * listeners; `update` swaps them on the listening server (setSecureContext) without closing connections.
 */
export class ServingCertificates implements experimental.CertificateProvider {
  #ca: CaUpdate | null = null;
  #identity: IdentityUpdate | null = null;
  readonly #caListeners = new Set<Listener<CaUpdate>>();
  readonly #identityListeners = new Set<Listener<IdentityUpdate>>();

  update(material: { certChainPem: string; keyPem: string; bundlePem: string }): void {
    this.#ca = { caCertificate: Buffer.from(material.bundlePem) };
    this.#identity = { certificate: Buffer.from(material.certChainPem), privateKey: Buffer.from(material.keyPem) };
    for (const l of this.#caListeners) l(this.#ca);
    for (const l of this.#identityListeners) l(this.#identity);
  }

  addCaCertificateListener(listener: Listener<CaUpdate>): void {
    this.#caListeners.add(listener);
    // Replay asynchronously: grpc-js registers its own watcher only after adding provider listeners.
    queueMicrotask(() => {
      if (this.#ca && this.#caListeners.has(listener)) listener(this.#ca);
    });
  }

  removeCaCertificateListener(listener: Listener<CaUpdate>): void {
    this.#caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: Listener<IdentityUpdate>): void {
    this.#identityListeners.add(listener);
    queueMicrotask(() => {
      if (this.#identity && this.#identityListeners.has(listener)) listener(this.#identity);
    });
  }

  removeIdentityCertificateListener(listener: Listener<IdentityUpdate>): void {
    this.#identityListeners.delete(listener);
  }

  /**
   * Client certificates are requested and verified against the bundle but not required: `Attest` is called
   * with a join token before the caller has any certificate; `Renew` and the Admin service demand one.
   */
  serverCredentials(): ServerCredentials {
    return experimental.createCertificateProviderServerCredentials(this, this, false);
  }
}
