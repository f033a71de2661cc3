import type * as x509 from '@peculiar/x509';
import type {
  CertificateAuthority,
  CrlRequest,
  IssuedLeaf,
  LeafRequest,
  SigningCa,
  SigningCertificateRequest,
} from './certificate-authority.ts';

/**
 * The CA in force, swappable at run time: CA rotation activates a new intermediate (and root) without a restart.
 * Services hold this object, never a CertificateAuthority, so each call signs with whatever is active then.
 */
export class ActiveCa implements SigningCa {
  #ca: CertificateAuthority;

  constructor(ca: CertificateAuthority) {
    this.#ca = ca;
  }

  /** Switches signing to `ca` (same trust domain); certificates already issued are unaffected. */
  swap(ca: CertificateAuthority): void {
    if (ca.trustDomain !== this.#ca.trustDomain)
      throw new Error(`cannot swap the CA of ${this.#ca.trustDomain} for one of ${ca.trustDomain}`);
    this.#ca = ca;
  }

  get trustDomain(): string {
    return this.#ca.trustDomain;
  }
  get keyType(): CertificateAuthority['keyType'] {
    return this.#ca.keyType;
  }
  get intermediateNotAfter(): number {
    return this.#ca.intermediateNotAfter;
  }
  get intermediateSerial(): string {
    return this.#ca.intermediateSerial;
  }
  get intermediate(): x509.X509Certificate {
    return this.#ca.intermediate;
  }
  get roots(): readonly x509.X509Certificate[] {
    return this.#ca.roots;
  }
  issueLeaf(request: LeafRequest): Promise<IssuedLeaf> {
    return this.#ca.issueLeaf(request);
  }
  issueSigningCertificate(request: SigningCertificateRequest): Promise<IssuedLeaf> {
    return this.#ca.issueSigningCertificate(request);
  }
  signCrl(request: CrlRequest): Promise<Uint8Array> {
    return this.#ca.signCrl(request);
  }
  addRoot(root: x509.X509Certificate): Promise<boolean> {
    return this.#ca.addRoot(root);
  }
  removeRoot(der: Uint8Array): boolean {
    return this.#ca.removeRoot(der);
  }
  chainPem(): string {
    return this.#ca.chainPem();
  }
  chainDer(): Uint8Array[] {
    return this.#ca.chainDer();
  }
  rootsDer(): Uint8Array[] {
    return this.#ca.rootsDer();
  }
  bundlePem(): string {
    return this.#ca.bundlePem();
  }
}
