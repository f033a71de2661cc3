import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { keyTypeOfSpki, spkiSha256 } from '../../common/key-pair.ts';
import { pemCertificatesToDer } from '../../common/trust-bundle.ts';
import { parseX509Facts } from '../../common/x509-facts.ts';
import type { CertSpec, TestKey, TestPki } from '../../test/fixtures/cert-factory.ts';
import type { TlsMaterial } from './credential-source.ts';
import type { IdentityApi, IssuedSvidWire } from './identity-api.ts';

/** What the fake read from a CSR: enough to certify its key, or to build a deliberately wrong answer. */
export interface CsrRequest {
  readonly spiffeId: string;
  /** The requested key, usable only as a public key (the issuer signs). */
  readonly key: TestKey;
  readonly spkiSha256: string;
}

export interface FakeCall {
  readonly op: 'attest' | 'renew';
  readonly token?: string;
  /** Serial of the client certificate a renewal came with. */
  readonly currentSerial?: string;
  readonly csrSpkiSha256: string;
}

/** A scripted answer for the next call; calls past the script are served normally. */
export type FakeOutcome =
  | { readonly kind: 'error'; readonly error: unknown }
  | {
      readonly kind: 'respond';
      readonly respond: (request: CsrRequest, api: FakeIdentityApi) => Promise<IssuedSvidWire>;
    };

export interface FakeIdentityApiOptions {
  readonly pki: TestPki;
  readonly clock: Clock;
  /** Lifetime of issued SVIDs; notBefore is backdated 30 s like the real CA. */
  readonly ttlMs?: number;
  /** One-time join tokens the fake accepts. */
  readonly tokens?: readonly string[];
}

/**
 * A typed stand-in for the control plane's Identity service that really signs CSRs with a test PKI and applies the
 * server's main rules (one-time tokens, renewal only with an unexpired SVID and a new key).
 */
export class FakeIdentityApi implements IdentityApi {
  readonly calls: FakeCall[] = [];
  readonly script: FakeOutcome[] = [];
  /** When set, every renewal past the script fails with it. */
  renewFailure: unknown = undefined;
  readonly #options: FakeIdentityApiOptions;
  readonly #unusedTokens: Set<string>;
  readonly #usedTokens = new Set<string>();

  constructor(options: FakeIdentityApiOptions) {
    this.#options = options;
    this.#unusedTokens = new Set(options.tokens ?? []);
  }

  addToken(token: string): void {
    this.#unusedTokens.add(token);
  }

  async attest(joinToken: string, csrDer: Uint8Array): Promise<IssuedSvidWire> {
    const request = await parseCsr(csrDer);
    this.calls.push({ op: 'attest', token: joinToken, csrSpkiSha256: request.spkiSha256 });
    const scripted = await this.#scripted(request);
    if (scripted) return scripted;
    if (this.#usedTokens.has(joinToken))
      throw new SigilError(ErrorCode.TOKEN_USED, 'the join token was already used: create a new one');
    if (!this.#unusedTokens.delete(joinToken))
      throw new SigilError(ErrorCode.TOKEN_INVALID, 'the join token is not known');
    this.#usedTokens.add(joinToken);
    return this.issue(request);
  }

  async renew(current: TlsMaterial, csrDer: Uint8Array): Promise<IssuedSvidWire> {
    const request = await parseCsr(csrDer);
    this.calls.push({ op: 'renew', currentSerial: current.serial, csrSpkiSha256: request.spkiSha256 });
    const scripted = await this.#scripted(request);
    if (scripted) return scripted;
    if (this.renewFailure !== undefined) throw this.renewFailure;
    const leafDer = pemCertificatesToDer(current.certChainPem)[0];
    const leaf = leafDer === undefined ? undefined : parseX509Facts(leafDer);
    if (leaf === undefined || leaf.notAfter <= this.#options.clock.now())
      throw new SigilError(ErrorCode.SVID_EXPIRED, 'the client SVID has expired');
    if (leaf.spkiSha256 === request.spkiSha256)
      throw new SigilError(ErrorCode.CSR_KEY_REUSED, 'renewal must use a new key');
    return this.issue(request);
  }

  /** Certifies the request's key as an SVID of `pki` (the fake's own by default); `overrides` break one rule. */
  async issue(
    request: CsrRequest,
    overrides: CertSpec = {},
    pki: TestPki = this.#options.pki,
  ): Promise<IssuedSvidWire> {
    const now = this.#options.clock.now();
    const svid = await pki.issueSvid(request.spiffeId, {
      key: request.key,
      notBefore: new Date(now - 30_000),
      notAfter: new Date(now + (this.#options.ttlMs ?? 3_600_000)),
      ...overrides,
    });
    return { chain: [svid.der, pki.intermediate.der], trust: this.trust() };
  }

  trust(): IssuedSvidWire['trust'] {
    return { trustDomain: this.#options.pki.trustDomain, roots: [this.#options.pki.root.der], bundleSequence: 1 };
  }

  async #scripted(request: CsrRequest): Promise<IssuedSvidWire | undefined> {
    const outcome = this.script.shift();
    if (outcome === undefined) return undefined;
    if (outcome.kind === 'error') throw outcome.error;
    return outcome.respond(request, this);
  }
}

const SAN_OID = '2.5.29.17';

export async function parseCsr(csrDer: Uint8Array): Promise<CsrRequest> {
  const csr = new x509.Pkcs10CertificateRequest(csrDer);
  if (!(await csr.verify(globalThis.crypto)))
    throw new SigilError(ErrorCode.CSR_SIGNATURE, 'the CSR signature does not verify');
  const sanExt = csr.extensions.find((e) => e.type === SAN_OID);
  const uris = sanExt
    ? new x509.SubjectAlternativeNameExtension(sanExt.rawData).names.items.filter((n) => n.type === 'url')
    : [];
  const uri = uris[0]?.value;
  if (uris.length !== 1 || uri === undefined)
    throw new SigilError(ErrorCode.CSR_URI_SAN_COUNT, 'the CSR must carry exactly one URI SAN');
  const spki = new Uint8Array(csr.publicKey.rawData);
  const publicKey = await csr.publicKey.export(globalThis.crypto);
  // cert-factory signs a leaf with its issuer's key and reads only the public half of the subject key; a public key
  // in the private slot fails loudly should that ever change.
  const key: TestKey = { publicKey, privateKey: publicKey, keyPem: '', type: keyTypeOfSpki(spki) };
  return { spiffeId: uri, key, spkiSha256: spkiSha256(spki) };
}
