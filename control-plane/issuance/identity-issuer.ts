import type { Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { KeyType } from '../../common/key-type.ts';
import type { SpiffeId } from '../../common/spiffe-id.ts';
import type { CertificateKind, Store } from '../store/store.ts';
import { hashJoinToken, joinTokenId, tokenAllows } from './join-tokens.ts';

/** What the issuer needs of a checked CSR. */
export interface CheckedCsr {
  readonly spiffeId: SpiffeId;
  readonly publicKey: CryptoKey;
  readonly keyType: KeyType;
  /** DER SPKI of the key, canonical (what the certificate will carry). */
  readonly spki?: Uint8Array;
  readonly publicKeySha256: string;
}

/** What the issuer needs of a signed certificate. */
export interface SignedLeaf {
  readonly der: Uint8Array;
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly keyType: KeyType;
  readonly publicKeySha256: string;
  /** Serial of the CA certificate that signed it, and the intermediates to send after it (DER): taken together
   * with the signature, so a CA rotation in between can never pair a leaf with another CA's chain. */
  readonly issuerSerial: string;
  readonly chainDer: readonly Uint8Array[];
}

/** The CA as the issuer sees it: a port, so tests can count signatures and fail them. */
export interface LeafSigner {
  readonly trustDomain: string;
  issueLeaf(request: {
    spiffeId: string;
    publicKey: CryptoKey;
    spki?: Uint8Array;
    ttlMs: number;
    now: number;
  }): Promise<SignedLeaf>;
}

/** The verified caller of an mTLS call, as read from its TLS client certificate. */
export interface CallerCertificate {
  readonly spiffeId: SpiffeId;
  readonly serial: string;
  readonly publicKeySha256: string;
  /** Unix ms; set when read from a presented certificate. */
  readonly notAfter?: number;
}

export interface IssuerDeps {
  readonly store: Store;
  readonly signer: LeafSigner;
  readonly clock: Clock;
  readonly checkCsr: (der: Uint8Array) => Promise<CheckedCsr>;
  readonly svidTtlMs: number;
  readonly onIssued?: (leaf: SignedLeaf, kind: CertificateKind) => void;
}

export interface IssuedSvid {
  readonly leaf: SignedLeaf;
  /** The SPIFFE ID the leaf certifies (the CSR's, checked): callers need not parse the leaf to learn it. */
  readonly spiffeId: string;
  /** Leaf first, then intermediates. */
  readonly chain: Uint8Array[];
}

/**
 * Attestation and renewal. Every check runs before anything is written, so a refused request leaves the
 * store as it was; the join token is consumed only once the CSR has been accepted.
 */
export class IdentityIssuer {
  readonly #deps: IssuerDeps;
  /** Keys between their reuse check and their inventory row: a second request for one of them is refused. */
  readonly #keysInFlight = new Set<string>();

  constructor(deps: IssuerDeps) {
    this.#deps = deps;
  }

  async attest(joinToken: string, csrDer: Uint8Array): Promise<IssuedSvid> {
    const { store, clock } = this.#deps;
    if (joinToken === '')
      throw new SigilError(
        ErrorCode.TOKEN_INVALID,
        'no join token given: create one with `sigil token create --spiffe-id ID`',
      );
    const tokenHash = hashJoinToken(joinToken);
    const token = await store.getJoinToken(tokenHash);
    if (!token)
      throw new SigilError(
        ErrorCode.TOKEN_INVALID,
        'the join token is not known to this control plane: create one with `sigil token create --spiffe-id ID`',
      );
    if (token.expiresAt <= clock.now())
      throw new SigilError(
        ErrorCode.TOKEN_EXPIRED,
        'the join token has expired: create a new one with `sigil token create`',
      );
    if (token.revokedAt !== undefined)
      throw new SigilError(
        ErrorCode.TOKEN_INVALID,
        `the join token ${joinTokenId(token)} was revoked (sigil token revoke): create a new one with \`sigil token create\``,
      );
    if (token.usesRemaining <= 0)
      throw new SigilError(
        ErrorCode.TOKEN_USED,
        'the join token has already been used: join tokens are single-use unless created with --uses',
      );
    if (!token.matchPrefix) await this.#refuseRevokedIdentity(token.spiffeId);
    const csr = await this.#deps.checkCsr(csrDer);
    if (!tokenAllows(token, csr.spiffeId.uri)) {
      throw new SigilError(
        ErrorCode.TOKEN_SPIFFE_ID_MISMATCH,
        token.matchPrefix
          ? `the join token is bound to the prefix ${token.spiffeId}/, but the CSR asks for ${csr.spiffeId.uri}`
          : `the join token is bound to ${token.spiffeId}, but the CSR asks for ${csr.spiffeId.uri}`,
      );
    }
    if (token.matchPrefix) await this.#refuseRevokedIdentity(csr.spiffeId.uri);
    await this.#refuseKnownKey(csr.publicKeySha256);
    // Sign first, then use the token and record the certificate in one transaction: a crash or a full disk in
    // between leaves the token usable and nothing recorded (the signed certificate is never handed out).
    return this.#withKeyReserved(csr.publicKeySha256, () => this.#issue(csr, undefined, tokenHash));
  }

  /**
   * x509pop: the caller proved possession of a device key (X509PopAttestor.verify) for `spiffeId`, derived by the
   * operator's template; the CSR must ask for exactly that ID. No token is consumed: the device certificate is the
   * reusable credential, so autoscaled replicas each attest with their own.
   */
  async attestX509Pop(spiffeId: SpiffeId, csrDer: Uint8Array): Promise<IssuedSvid> {
    await this.#refuseRevokedIdentity(spiffeId.uri);
    const csr = await this.#deps.checkCsr(csrDer);
    if (csr.spiffeId.uri !== spiffeId.uri) {
      throw new SigilError(
        ErrorCode.TOKEN_SPIFFE_ID_MISMATCH,
        `the device certificate gives ${spiffeId.uri} (attestation.x509pop.spiffeIdTemplate), but the CSR asks for ${csr.spiffeId.uri}`,
      );
    }
    await this.#refuseKnownKey(csr.publicKeySha256);
    return this.#withKeyReserved(csr.publicKeySha256, () => this.#issue(csr));
  }

  async renew(caller: CallerCertificate, csrDer: Uint8Array): Promise<IssuedSvid> {
    const csr = await this.#checkRenewal(caller, csrDer);
    return this.#withKeyReserved(csr.publicKeySha256, () => this.#issue(csr, caller.serial));
  }

  /**
   * An SVID of the caller's SPIFFE ID on a new key, for the workload beside the sidecar (Workload API). Same checks
   * as a renewal, but it supersedes only the workload's previous SVID (`replacesSerial`, when it is one of the
   * caller's), never the caller's own: the sidecar's renewal lineage is left as it was.
   */
  async issueWorkloadSvid(caller: CallerCertificate, csrDer: Uint8Array, replacesSerial = ''): Promise<IssuedSvid> {
    const csr = await this.#checkRenewal(caller, csrDer);
    let replaces: string | undefined;
    if (replacesSerial !== '' && replacesSerial !== caller.serial) {
      const previous = await this.#deps.store.getCertificate(replacesSerial);
      if (previous?.kind === 'svid' && previous.spiffeId === caller.spiffeId.uri && previous.status === 'active')
        replaces = replacesSerial;
    }
    return this.#withKeyReserved(csr.publicKeySha256, () => this.#issue(csr, replaces));
  }

  /** What renewal and workload issuance both require of the caller and the CSR; throws the first rule broken. */
  async #checkRenewal(caller: CallerCertificate, csrDer: Uint8Array): Promise<CheckedCsr> {
    await this.requireLiveSvid(caller);
    const csr = await this.#deps.checkCsr(csrDer);
    if (csr.spiffeId.uri !== caller.spiffeId.uri) {
      throw new SigilError(
        ErrorCode.CSR_SPIFFE_ID_MISMATCH,
        `the CSR asks for ${csr.spiffeId.uri}, but the caller is ${caller.spiffeId.uri}: renewal keeps the SPIFFE ID`,
      );
    }
    if (csr.publicKeySha256 === caller.publicKeySha256) {
      throw new SigilError(
        ErrorCode.CSR_KEY_REUSED,
        'the CSR uses the same key as the current SVID: renewal needs a newly generated key',
      );
    }
    await this.#refuseKnownKey(csr.publicKeySha256);
    return csr;
  }

  /**
   * The caller's certificate is an SVID this control plane issued, not revoked, of an identity not revoked: what
   * renewal, workload SVIDs and JWT-SVIDs all require.
   */
  async requireLiveSvid(caller: CallerCertificate): Promise<void> {
    const record = await this.#deps.store.getCertificate(caller.serial);
    if (record?.kind !== 'svid') {
      throw new SigilError(
        ErrorCode.PEER_UNAUTHENTICATED,
        'the client certificate is not an SVID issued by this control plane: attest with a join token instead',
      );
    }
    if (record.status === 'revoked')
      throw new SigilError(ErrorCode.REVOKED, `certificate ${caller.serial} is revoked: it cannot be renewed`);
    await this.#refuseRevokedIdentity(caller.spiffeId.uri);
  }

  /** The check above and this reservation run without an await between them, so no two requests pass both. */
  async #withKeyReserved<T>(publicKeySha256: string, fn: () => Promise<T>): Promise<T> {
    if (this.#keysInFlight.has(publicKeySha256)) {
      throw new SigilError(
        ErrorCode.CSR_KEY_REUSED,
        'the CSR uses a key that was already certified: generate a new key for every request',
      );
    }
    this.#keysInFlight.add(publicKeySha256);
    try {
      return await fn();
    } finally {
      this.#keysInFlight.delete(publicKeySha256);
    }
  }

  /** Passive revocation: a revoked identity gets no new SVID, by token or by renewal, until unrevoked. */
  async #refuseRevokedIdentity(spiffeId: string): Promise<void> {
    const revoked = await this.#deps.store.getRevokedIdentity(spiffeId);
    if (revoked) {
      throw new SigilError(
        ErrorCode.REVOKED,
        `identity ${spiffeId} is revoked (${revoked.reason}): it gets no new SVID until an operator runs sigil unrevoke --spiffe-id ${spiffeId}`,
      );
    }
  }

  async #refuseKnownKey(publicKeySha256: string): Promise<void> {
    if (this.#keysInFlight.has(publicKeySha256) || (await this.#deps.store.hasPublicKey(publicKeySha256))) {
      throw new SigilError(
        ErrorCode.CSR_KEY_REUSED,
        'the CSR uses a key that was already certified: generate a new key for every request',
      );
    }
  }

  /** `renewing`: the caller's certificate, which the new one replaces (the lineage CA retire and rotation read). */
  async #issue(csr: CheckedCsr, renewing?: string, tokenHash?: string): Promise<IssuedSvid> {
    const { signer, store, clock } = this.#deps;
    const now = clock.now();
    const leaf = await signer.issueLeaf({
      spiffeId: csr.spiffeId.uri,
      // A getter, so the CryptoKey is made only if the CA's library path asks for it.
      get publicKey() {
        return csr.publicKey;
      },
      ...(csr.spki ? { spki: csr.spki, keyType: csr.keyType } : {}),
      ttlMs: this.#deps.svidTtlMs,
      now,
    });
    const consumed = await store.insertCertificate(
      {
        serial: leaf.serial,
        spiffeId: csr.spiffeId.uri,
        kind: 'svid',
        keyType: leaf.keyType,
        notBefore: leaf.notBefore,
        notAfter: leaf.notAfter,
        issuerSerial: leaf.issuerSerial,
        status: 'active',
        issuedAt: now,
        publicKeySha256: leaf.publicKeySha256,
        der: leaf.der,
      },
      {
        ...(renewing === undefined ? {} : { supersedes: renewing }),
        ...(tokenHash === undefined ? {} : { consumeToken: { tokenHash, now } }),
      },
    );
    if (consumed && !consumed.ok) {
      const code =
        consumed.reason === 'expired'
          ? ErrorCode.TOKEN_EXPIRED
          : consumed.reason === 'used'
            ? ErrorCode.TOKEN_USED
            : ErrorCode.TOKEN_INVALID;
      throw new SigilError(
        code,
        `the join token could not be used (${consumed.reason}): create a new one with \`sigil token create\``,
      );
    }
    this.#deps.onIssued?.(leaf, 'svid');
    return { leaf, spiffeId: csr.spiffeId.uri, chain: [leaf.der, ...leaf.chainDer] };
  }
}
