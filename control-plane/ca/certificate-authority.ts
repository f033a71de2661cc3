import 'reflect-metadata';
import type * as x509 from '@peculiar/x509';
import {
  createHash,
  createPublicKey,
  KeyObject,
  randomBytes as nodeRandomBytes,
  verify as nodeVerify,
  X509Certificate as NodeX509,
} from 'node:crypto';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { KeyType } from '../../common/key-type.ts';
import { parseTrustDomain, parseWorkloadId, type SpiffeId } from '../../common/spiffe-id.ts';
import {
  assertNoViolations,
  caProfileViolations,
  leafProfileViolations,
  signingProfileViolations,
} from './certificate-validator.ts';
import { CrlBuilder, type CrlRequest } from './crl-builder.ts';
import { checkSigningSubject, type SigningProfile, signingTemplate } from './signing-templates.ts';
import { certificatePem, issuedCertificate, type IssuedCertificate } from './issued-certificate.ts';
import { exportSpki, keyTypeOfSpki, type KeyAlgorithmParams } from '../../common/key-pair.ts';
import { type CaSigningKey, isCryptoKey, keyIdentifier, signCertificate, subjectKeyIdOf } from './sign-certificate.ts';
import { nodeDigestName } from '../signing/oids.ts';
import { LEAF_TTL_MS, leafTemplate, randomSerial, validity, type IssuerFacts, type RandomBytes } from './templates.ts';
import { certificatePemOfDer, SvidDerTemplate, type SvidFields } from './svid-der-template.ts';

export interface CertificateAuthorityOptions {
  readonly trustDomain: string;
  /** The signing CA certificate and its private key (in memory, or a key store's: a file's or a PKCS#11 token's). */
  readonly intermediate: x509.X509Certificate;
  readonly intermediateKey: CaSigningKey;
  /**
   * The same key as a KeyObject, when the caller holds one (a key file): node:crypto signs SVIDs from the DER
   * template with it. Without it (or an extractable key to convert), every SVID is built by the library.
   */
  readonly intermediateKeyObject?: KeyObject;
  /** Every root of the trust bundle; the intermediate must be signed by one of them. */
  readonly roots: readonly x509.X509Certificate[];
  readonly randomBytes?: RandomBytes;
}

export interface LeafRequest {
  /** A workload ID (non-empty path) in this CA's trust domain. */
  readonly spiffeId: SpiffeId | string;
  readonly publicKey: CryptoKey;
  /** The key's DER SPKI when the caller already has it (a checked CSR); exported from publicKey otherwise. */
  readonly spki?: Uint8Array;
  /** The key type of `spki` when the caller already classified it (a checked CSR); ignored without `spki`. */
  readonly keyType?: KeyType;
  /** Defaults to 1 h; capped at the intermediate's notAfter. */
  readonly ttlMs?: number;
  readonly now: number;
  /** Only for the control plane's own serving SVID. */
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
}

/** A code-signing or TSA certificate: no SPIFFE ID, a subject naming the team, pipeline or TSA. */
export interface SigningCertificateRequest {
  readonly profile: SigningProfile;
  /** RFC 4514 text, checked by checkSigningSubject. */
  readonly subject: string;
  readonly publicKey: CryptoKey;
  readonly ttlMs: number;
  readonly now: number;
}

/** A leaf with the CA that signed it: its serial and the chain to send after the leaf. */
export interface IssuedLeaf extends IssuedCertificate {
  readonly issuerSerial: string;
  readonly chainDer: readonly Uint8Array[];
}

export type { CrlEntry, CrlRequest } from './crl-builder.ts';

/**
 * Signs X.509-SVIDs with the current intermediate. Every library-built certificate is re-parsed and checked against
 * the SVID profile before it is returned, and every template-built one has its signature verified against the
 * intermediate; a certificate that fails is never handed out (SigilError INTERNAL).
 */
export class CertificateAuthority {
  readonly trustDomain: string;
  readonly keyType: KeyType;
  readonly #intermediate: x509.X509Certificate;
  readonly #key: CaSigningKey;
  #roots: readonly x509.X509Certificate[];
  readonly #issuer: IssuerFacts;
  readonly #randomBytes: RandomBytes;
  readonly #crls = new CrlBuilder();
  /** The intermediate as Node parses it: what checks each certificate made from a template. */
  readonly #intermediateNode: NodeX509;
  /**
   * The SVID DER template per leaf key type, derived from the first SVID of that type the library built (null: that
   * SVID's layout did not rebuild byte for byte, so this CA keeps using the library for the type).
   */
  readonly #svidTemplates = new Map<KeyType, SvidDerTemplate | null>();
  readonly #keyObject: KeyObject | undefined;

  private constructor(options: CertificateAuthorityOptions, issuerSki: string) {
    this.trustDomain = options.trustDomain;
    this.keyType = keyTypeOfSpki(new Uint8Array(options.intermediate.publicKey.rawData));
    this.#intermediate = options.intermediate;
    this.#key = options.intermediateKey;
    this.#roots = [...options.roots];
    this.#randomBytes = options.randomBytes ?? ((size) => new Uint8Array(nodeRandomBytes(size)));
    this.#intermediateNode = new NodeX509(new Uint8Array(options.intermediate.rawData));
    this.#keyObject =
      options.intermediateKeyObject ??
      (isCryptoKey(options.intermediateKey) && options.intermediateKey.extractable
        ? KeyObject.from(options.intermediateKey)
        : undefined);
    this.#issuer = {
      subject: options.intermediate.subject,
      notBefore: options.intermediate.notBefore.getTime(),
      notAfter: options.intermediate.notAfter.getTime(),
      subjectKeyId: issuerSki,
    };
  }

  /**
   * Checks that the roots and the intermediate follow the CA profile, that the intermediate chains to one of the
   * roots and that the key belongs to it; CA_INVALID otherwise.
   */
  static async create(options: CertificateAuthorityOptions): Promise<CertificateAuthority> {
    parseTrustDomain(options.trustDomain);
    if (options.roots.length === 0)
      throw new SigilError(ErrorCode.CA_INVALID, 'the CA has no root certificate: restore root.pem/bundle.pem');
    for (const root of options.roots) {
      assertNoViolations(
        await caProfileViolations(root, { trustDomain: options.trustDomain, issuer: root }),
        ErrorCode.CA_INVALID,
        `root CA ${root.serialNumber}`,
      );
    }
    const violationsPerRoot = await Promise.all(
      options.roots.map((root) =>
        caProfileViolations(options.intermediate, { trustDomain: options.trustDomain, issuer: root, pathLength: 0 }),
      ),
    );
    const best = violationsPerRoot.reduce((a, b) => (b.length < a.length ? b : a));
    assertNoViolations(best, ErrorCode.CA_INVALID, `intermediate CA ${options.intermediate.serialNumber}`);
    const ski = subjectKeyIdOf(options.intermediate);
    if (ski === undefined)
      throw new SigilError(ErrorCode.CA_INVALID, 'the intermediate CA has no subjectKeyIdentifier');
    await assertKeyMatches(options.intermediate, options.intermediateKey);
    return new CertificateAuthority(options, ski);
  }

  get intermediateNotAfter(): number {
    return this.#issuer.notAfter;
  }

  get intermediateSerial(): string {
    return this.#intermediate.serialNumber.toLowerCase();
  }

  get intermediate(): x509.X509Certificate {
    return this.#intermediate;
  }

  /**
   * Signs an X.509-SVID. The first SVID of each leaf key type is built by the library and checked against the whole
   * profile; it becomes the DER template for the next ones (svid-der-template.ts), which need no ASN.1 library: the
   * serial, validity, key, SKI and SAN are filled in, node:crypto signs, and the signature is verified against the
   * intermediate.
   */
  async issueLeaf(request: LeafRequest): Promise<IssuedLeaf> {
    const uri = typeof request.spiffeId === 'string' ? request.spiffeId : request.spiffeId.uri;
    const spiffeId = parseWorkloadId(uri, this.trustDomain);
    const spki = request.spki ?? spkiOf(request.publicKey);
    const keyType = request.spki && request.keyType ? request.keyType : keyTypeOfSpki(spki);
    const plain = (request.dnsNames ?? []).length === 0 && (request.ipAddresses ?? []).length === 0;
    const template = plain ? this.#svidTemplates.get(keyType) : undefined;
    if (template) {
      const fields: SvidFields = {
        serial: Buffer.from(randomSerial(this.#randomBytes), 'hex'),
        ...validity(request.now, request.ttlMs ?? LEAF_TTL_MS, this.#issuer),
        spki,
        uri: spiffeId.uri,
      };
      if (template.fits(fields) && spiffeId.path !== '') return this.#issueFromTemplate(template, fields, keyType);
    }
    const cert = await this.#issueWithLibrary(request, spiffeId, spki, keyType);
    const issued = {
      ...issuedCertificate(cert, keyType),
      issuerSerial: this.intermediateSerial,
      chainDer: this.chainDer(),
    };
    if (plain && this.#keyObject && !this.#svidTemplates.has(keyType)) {
      const fields: SvidFields = {
        serial: Buffer.from(issued.serial, 'hex'),
        notBefore: issued.notBefore,
        notAfter: issued.notAfter,
        spki,
        uri: spiffeId.uri,
      };
      this.#svidTemplates.set(
        keyType,
        SvidDerTemplate.derive(issued.der, fields, {
          key: this.#keyObject,
          issuerPublicKey: this.#intermediateNode.publicKey,
        }) ?? null,
      );
    }
    return issued;
  }

  /** Whether SVIDs for keys of `keyType` now come from the DER template (after the first one of that type). */
  hasSvidTemplate(keyType: KeyType): boolean {
    return Boolean(this.#svidTemplates.get(keyType));
  }

  /**
   * An SVID from the template: the fields are encoded by the template, which rebuilt its library-built prototype
   * byte for byte (svid-der-template.test.ts holds it to the library and to openssl verify), and the signature is
   * verified against the intermediate before the certificate leaves. Nothing is re-parsed: that cost more than
   * everything else the CA does per SVID.
   */
  #issueFromTemplate(template: SvidDerTemplate, fields: SvidFields, keyType: KeyType): IssuedLeaf {
    const der = template.sign(template.tbs(fields), fields.uri);
    let pem: string | undefined;
    return Object.freeze({
      der,
      get pem() {
        pem ??= certificatePemOfDer(der);
        return pem;
      },
      serial: Buffer.from(fields.serial).toString('hex'),
      notBefore: fields.notBefore,
      notAfter: fields.notAfter,
      keyType,
      publicKeySha256: createHash('sha256').update(fields.spki).digest('hex'),
      issuerSerial: this.intermediateSerial,
      chainDer: this.chainDer(),
    });
  }

  async #issueWithLibrary(
    request: LeafRequest,
    spiffeId: SpiffeId,
    spki: Uint8Array,
    keyType: KeyType,
  ): Promise<x509.X509Certificate> {
    const template = leafTemplate({
      spiffeId,
      keyType,
      now: request.now,
      ttlMs: request.ttlMs ?? LEAF_TTL_MS,
      subjectKeyId: await keyIdentifier(spki),
      issuer: this.#issuer,
      randomBytes: this.#randomBytes,
      ...(request.dnsNames ? { dnsNames: request.dnsNames } : {}),
      ...(request.ipAddresses ? { ipAddresses: request.ipAddresses } : {}),
    });
    const cert = await signCertificate({
      template,
      publicKey: request.publicKey,
      signingKey: this.#key,
      signingKeyType: this.keyType,
    });
    const violations = await leafProfileViolations(cert, {
      spiffeId: spiffeId.uri,
      keyType,
      issuer: this.#intermediate,
      now: request.now,
      dnsNames: request.dnsNames ?? [],
      ipAddresses: request.ipAddresses ?? [],
    });
    assertNoViolations(
      violations,
      ErrorCode.INTERNAL,
      `the SVID just signed for ${spiffeId.uri} was withheld because it`,
    );
    return cert;
  }

  /** Signs a code-signing or TSA certificate; like issueLeaf, it is checked against its profile before it leaves. */
  async issueSigningCertificate(request: SigningCertificateRequest): Promise<IssuedLeaf> {
    const subject = checkSigningSubject(request.subject);
    const spki = await exportSpki(request.publicKey);
    const keyType = keyTypeOfSpki(spki);
    const template = signingTemplate({
      profile: request.profile,
      subject,
      now: request.now,
      ttlMs: request.ttlMs,
      subjectKeyId: await keyIdentifier(spki),
      issuer: this.#issuer,
      randomBytes: this.#randomBytes,
    });
    const cert = await signCertificate({
      template,
      publicKey: request.publicKey,
      signingKey: this.#key,
      signingKeyType: this.keyType,
    });
    assertNoViolations(
      await signingProfileViolations(cert, {
        profile: request.profile,
        subject,
        issuer: this.#intermediate,
        now: request.now,
      }),
      ErrorCode.INTERNAL,
      `the ${request.profile} certificate just signed for ${subject} was withheld because it`,
    );
    return { ...issuedCertificate(cert, keyType), issuerSerial: this.intermediateSerial, chainDer: this.chainDer() };
  }

  /**
   * Signs an X.509 v2 CRL with the intermediate key: issuer = the intermediate's subject (its exact DER), AKI = its
   * SKI, a CRL number, a reason code per entry. The signature is checked against the intermediate before the CRL
   * is returned (SigilError INTERNAL otherwise); see CrlBuilder for why nothing is re-parsed.
   */
  signCrl(request: CrlRequest): Promise<Uint8Array> {
    return this.#crls.build(
      {
        certificate: this.#intermediate,
        subjectKeyId: this.#issuer.subjectKeyId,
        key: this.#key,
        keyType: this.keyType,
      },
      request,
    );
  }

  /**
   * Adds a root to the trust bundle (CA rotation prepares this way): checked against the root profile first;
   * returns false when the bundle already holds it.
   */
  async addRoot(root: x509.X509Certificate): Promise<boolean> {
    if (this.#roots.some((r) => Buffer.from(r.rawData).equals(Buffer.from(root.rawData)))) return false;
    assertNoViolations(
      await caProfileViolations(root, { trustDomain: this.trustDomain, issuer: root }),
      ErrorCode.CA_INVALID,
      `root CA ${root.serialNumber}`,
    );
    this.#roots = [...this.#roots, root];
    return true;
  }

  /** Drops a root from the trust bundle (CA rotation retires the old one); returns false when it was not there. */
  removeRoot(der: Uint8Array): boolean {
    const kept = this.#roots.filter((r) => !Buffer.from(r.rawData).equals(Buffer.from(der)));
    if (kept.length === this.#roots.length) return false;
    if (kept.length === 0)
      throw new SigilError(ErrorCode.CA_INVALID, 'refusing to remove the last root of the trust bundle');
    this.#roots = kept;
    return true;
  }

  get roots(): readonly x509.X509Certificate[] {
    return this.#roots;
  }

  /** The intermediate, in PEM, for appending after a leaf in an SVID chain. */
  chainPem(): string {
    return certificatePem(this.#intermediate);
  }

  chainDer(): Uint8Array[] {
    return [new Uint8Array(this.#intermediate.rawData)];
  }

  rootsDer(): Uint8Array[] {
    return this.#roots.map((root) => new Uint8Array(root.rawData));
  }

  /** The trust bundle: root(s) only. */
  bundlePem(): string {
    return this.#roots.map(certificatePem).join('');
  }
}

/** What the services need of the CA in force; `ActiveCa` forwards it to whichever CA signs at the moment. */
export type SigningCa = Pick<
  CertificateAuthority,
  | 'trustDomain'
  | 'keyType'
  | 'intermediateNotAfter'
  | 'intermediateSerial'
  | 'intermediate'
  | 'roots'
  | 'issueLeaf'
  | 'issueSigningCertificate'
  | 'signCrl'
  | 'addRoot'
  | 'removeRoot'
  | 'chainPem'
  | 'chainDer'
  | 'rootsDer'
  | 'bundlePem'
>;

/** Signs a probe with the key and verifies it with the certificate's key: the only check that needs no export. */
async function assertKeyMatches(cert: x509.X509Certificate, key: CaSigningKey): Promise<void> {
  const probe = new TextEncoder().encode('sigil key match probe');
  let ok = false;
  try {
    if (isCryptoKey(key)) {
      const subtle = globalThis.crypto.subtle;
      const algorithm =
        key.algorithm.name === 'ECDSA' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: key.algorithm.name };
      const publicKey = await cert.publicKey.export(key.algorithm as KeyAlgorithmParams, ['verify'], globalThis.crypto);
      ok = await subtle.verify(algorithm, publicKey, await subtle.sign(algorithm, key, probe), probe);
    } else {
      const publicKey = createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: 'der', type: 'spki' });
      ok = nodeVerify(nodeDigestName('SHA-256'), probe, publicKey, await key.sign(probe, 'SHA-256'));
    }
  } catch (err) {
    // A token that cannot sign at all (removed, logged out) is its own error, not a key mismatch.
    if (err instanceof SigilError && err.code.startsWith('SIGIL_ERR_PKCS11')) throw err;
    ok = false;
  }
  if (!ok)
    throw new SigilError(
      ErrorCode.CA_INVALID,
      `the intermediate CA key does not belong to certificate ${cert.serialNumber}: restore the matching intermediate.key`,
    );
}

/** The DER SPKI of a public key, as WebCrypto's exportKey('spki') gives it, without the asynchronous round trip. */
function spkiOf(publicKey: CryptoKey): Uint8Array {
  return new Uint8Array(KeyObject.from(publicKey).export({ type: 'spki', format: 'der' }));
}
