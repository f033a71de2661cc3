import 'reflect-metadata';
import { createHash, randomBytes, verify, X509Certificate } from 'node:crypto';
import { KeyUsageFlags, KeyUsagesExtension, X509Certificate as PeculiarCertificate } from '@peculiar/x509';
import type { Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { parseWorkloadId, type SpiffeId } from '../../common/spiffe-id.ts';
import { x509PopDigest, x509PopSignedData } from '../../common/x509pop-proof.ts';
import { checkX509PopTemplate, X509POP_PLACEHOLDER as PLACEHOLDER } from './x509pop-template.ts';

/**
 * x509pop node attestation as SPIRE defines it: a machine holding a certificate from a CA the operator trusts for
 * attestation (the device CA) proves possession of its key by signing a fresh nonce, and gets the SPIFFE ID the
 * operator's template derives from that certificate.
 *
 * Two steps: `challenge()` checks the chain and hands out a single-use nonce bound to that leaf; the caller signs
 * `CONTEXT || nonce || SHA-256(CSR)` with the device key, which binds the proof to the CSR it sends with it, so a
 * replayed signature cannot carry another key into an SVID.
 */
export interface X509PopSettings {
  /** PEM of the CA certificates trusted for attestation (roots; intermediates may come with the caller's chain). */
  readonly caBundlePem: string;
  /** A SPIFFE ID with placeholders: {{ .TrustDomain }}, {{ .Subject.CommonName }} (or {{ .CN }}), {{ .Fingerprint }}. */
  readonly spiffeIdTemplate: string;
}

const NONCE_BYTES = 32;
const NONCE_TTL_MS = 60_000;
/** Outstanding nonces are capped so unauthenticated callers cannot grow memory without bound. */
const MAX_OUTSTANDING = 10_000;
const MAX_CHAIN = 5;

export interface X509PopChallenge {
  readonly nonce: Uint8Array;
  readonly spiffeId: string;
  readonly expiresAt: number;
}

export interface VerifiedX509Pop {
  readonly spiffeId: SpiffeId;
  /** SHA-1 of the device leaf (hex), SPIRE's fingerprint; for logs and audit. */
  readonly fingerprint: string;
}

interface Outstanding {
  readonly leafSha256: string;
  readonly expiresAt: number;
}

export class X509PopAttestor {
  readonly #roots: X509Certificate[];
  readonly #template: string;
  readonly #trustDomain: string;
  readonly #clock: Clock;
  readonly #nonces = new Map<string, Outstanding>();

  constructor(settings: X509PopSettings, trustDomain: string, clock: Clock) {
    this.#roots = splitPem(settings.caBundlePem).map((pem) => new X509Certificate(pem));
    if (this.#roots.length === 0)
      throw new SigilError(ErrorCode.CONFIG_INVALID, 'attestation.x509pop.caBundle holds no certificate');
    checkX509PopTemplate(settings.spiffeIdTemplate, 'attestation.x509pop.spiffeIdTemplate');
    this.#template = settings.spiffeIdTemplate;
    this.#trustDomain = trustDomain;
    this.#clock = clock;
  }

  /** Checks the chain and the ID it derives, then hands out a nonce valid once, for a minute, for this leaf. */
  challenge(chainDer: readonly Uint8Array[]): X509PopChallenge {
    const now = this.#clock.now();
    const { leaf, spiffeId } = this.#checkChain(chainDer, now);
    this.#sweep(now);
    if (this.#nonces.size >= MAX_OUTSTANDING)
      throw new SigilError(ErrorCode.UNAVAILABLE, 'too many x509pop challenges outstanding: retry in a minute');
    const nonce = randomBytes(NONCE_BYTES);
    const expiresAt = now + NONCE_TTL_MS;
    this.#nonces.set(nonce.toString('hex'), { leafSha256: leaf.fingerprint256, expiresAt });
    return { nonce, spiffeId: spiffeId.uri, expiresAt };
  }

  /**
   * Verifies a response: the nonce (consumed whatever the outcome), the chain again at now, and the signature by the
   * leaf's key over the nonce and the CSR. Returns the derived ID; the CSR must ask for exactly that.
   */
  verify(request: {
    nonce: Uint8Array;
    chainDer: readonly Uint8Array[];
    csrDer: Uint8Array;
    signature: Uint8Array;
  }): VerifiedX509Pop {
    const now = this.#clock.now();
    const key = Buffer.from(request.nonce).toString('hex');
    const outstanding = this.#nonces.get(key);
    this.#nonces.delete(key);
    if (!outstanding || outstanding.expiresAt <= now)
      throw new SigilError(
        ErrorCode.TOKEN_INVALID,
        'the x509pop challenge is unknown, used or expired: ask for a new one (challenges are single-use, 60 s)',
      );
    const { leaf, spiffeId } = this.#checkChain(request.chainDer, now);
    if (leaf.fingerprint256 !== outstanding.leafSha256)
      throw new SigilError(ErrorCode.TOKEN_INVALID, 'the x509pop challenge was issued for another certificate');
    const data = x509PopSignedData(request.nonce, request.csrDer);
    let good = false;
    try {
      good = verify(x509PopDigest(leaf.publicKey), data, leaf.publicKey, request.signature);
    } catch {
      good = false;
    }
    if (!good)
      throw new SigilError(
        ErrorCode.TOKEN_INVALID,
        "the x509pop signature does not verify with the certificate's key: the caller does not hold the device key",
      );
    return { spiffeId, fingerprint: sha1Hex(leaf.raw) };
  }

  #checkChain(chainDer: readonly Uint8Array[], now: number): { leaf: X509Certificate; spiffeId: SpiffeId } {
    if (chainDer.length === 0 || chainDer.length > MAX_CHAIN)
      throw new SigilError(
        ErrorCode.TOKEN_INVALID,
        `x509pop needs the device certificate chain (leaf first, at most ${MAX_CHAIN} certificates)`,
      );
    let chain: X509Certificate[];
    try {
      chain = chainDer.map((der) => new X509Certificate(Buffer.from(der)));
    } catch (cause) {
      throw new SigilError(
        ErrorCode.TOKEN_INVALID,
        'the x509pop certificate chain does not parse as DER certificates',
        {
          cause,
        },
      );
    }
    const leaf = chain[0] as X509Certificate;
    const untrusted = (why: string): never => {
      throw new SigilError(
        ErrorCode.TOKEN_INVALID,
        `the device certificate ${JSON.stringify(leaf.subject)} is not accepted for x509pop: ${why}`,
      );
    };
    if (leaf.ca) untrusted('it is a CA certificate; x509pop needs an end-entity certificate');
    const usage = new PeculiarCertificate(leaf.raw).getExtension(KeyUsagesExtension);
    if (usage && (usage.usages & KeyUsageFlags.digitalSignature) === 0)
      untrusted('its key usage does not include digitalSignature');
    const intermediates = chain.slice(1);
    let current = leaf;
    for (let depth = 0; ; depth++) {
      checkValidity(current, now, untrusted);
      const root = this.#roots.find((r) => current.checkIssued(r) && current.verify(r.publicKey));
      if (root) {
        checkValidity(root, now, untrusted);
        break;
      }
      const next = intermediates.find((c) => c.ca && current.checkIssued(c) && current.verify(c.publicKey));
      if (!next || depth >= MAX_CHAIN)
        untrusted('it does not chain to attestation.x509pop.caBundle (a certificate from another CA?)');
      current = next as X509Certificate;
    }
    return { leaf, spiffeId: this.#derive(leaf) };
  }

  #derive(leaf: X509Certificate): SpiffeId {
    const cn = /(?:^|\n)CN=([^\n]*)/.exec(leaf.subject)?.[1];
    const values: Record<string, string | undefined> = {
      TrustDomain: this.#trustDomain,
      'Subject.CommonName': cn,
      CN: cn,
      Fingerprint: sha1Hex(leaf.raw),
    };
    const text = this.#template.replace(PLACEHOLDER, (_all, field: string) => {
      const value = values[field];
      if (value === undefined || value === '')
        throw new SigilError(
          ErrorCode.SPIFFE_ID_INVALID,
          `the x509pop template needs {{ .${field} }}, which the device certificate ${JSON.stringify(leaf.subject)} does not have`,
        );
      return value;
    });
    let id: SpiffeId;
    try {
      id = parseWorkloadId(text, this.#trustDomain);
    } catch (cause) {
      throw new SigilError(
        ErrorCode.SPIFFE_ID_INVALID,
        `the x509pop template gives ${JSON.stringify(text)} for this device, which is not a valid workload SPIFFE ID of ${this.#trustDomain}: ${(cause as Error).message}`,
        { cause },
      );
    }
    if (id.path === '/sigil' || id.path.startsWith('/sigil/'))
      throw new SigilError(
        ErrorCode.SPIFFE_ID_INVALID,
        `the x509pop template gives ${id.uri}, which is reserved for Sigil's own components: change spiffeIdTemplate`,
      );
    return id;
  }

  #sweep(now: number): void {
    for (const [nonce, entry] of this.#nonces) if (entry.expiresAt <= now) this.#nonces.delete(nonce);
  }
}

function checkValidity(cert: X509Certificate, now: number, untrusted: (why: string) => never): void {
  if (Date.parse(cert.validFrom) > now)
    untrusted(`${cert.subject.replace(/\n/g, ', ')} is not valid before ${cert.validFrom}`);
  if (Date.parse(cert.validTo) <= now) untrusted(`${cert.subject.replace(/\n/g, ', ')} expired at ${cert.validTo}`);
}

function sha1Hex(der: Uint8Array): string {
  return createHash('sha1').update(der).digest('hex');
}

function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}
