import type { Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { adminId, isAdminId, parseSpiffeId } from '../../common/spiffe-id.ts';
import { ADMIN_SVID_TTL_MS } from '../ca/init-ca.ts';
import type { LeafSigner } from '../issuance/identity-issuer.ts';
import { checkAdminCsr } from '../issuance/csr.ts';
import type { RevocationRegistry } from '../revocation/revocation-registry.ts';
import type { Store } from '../store/store.ts';

export type AdminStatus = 'active' | 'revoked' | 'expired';

/** An admin identity as `sigil admin list` shows it. */
export interface AdminIdentity {
  readonly name: string;
  readonly spiffeId: string;
  readonly status: AdminStatus;
  /** null for the admin made by `sigil ca init` (it has no row of its own). */
  readonly createdAt: number | null;
  readonly createdBy: string;
  readonly revokedAt: number | null;
  /** The latest certificate of the identity. */
  readonly serial: string;
  readonly notAfter: number;
}

export interface AdminIdentitiesDeps {
  readonly store: Pick<
    Store,
    | 'insertAdminIdentity'
    | 'getAdminIdentity'
    | 'listAdminIdentities'
    | 'markAdminIdentityRevoked'
    | 'listCertificates'
    | 'insertCertificate'
    | 'hasPublicKey'
    | 'getRevokedIdentity'
  >;
  readonly signer: LeafSigner;
  readonly revocation: Pick<RevocationRegistry, 'revokeIdentity'>;
  readonly clock: Clock;
  /** Default 90 days, like the first admin's. */
  readonly ttlMs?: number;
}

/** One path segment, lowercase: the name shows in every audit entry. */
const ADMIN_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function checkAdminName(name: string): string {
  if (!ADMIN_NAME.test(name)) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `admin name ${JSON.stringify(name)} is not allowed: use 1 to 64 of a-z 0-9 . _ -, starting with a letter or digit`,
    );
  }
  return name;
}

const nameOf = (spiffeId: string): string => spiffeId.slice(spiffeId.lastIndexOf('/') + 1);

/**
 * Several admin identities (spiffe://<td>/sigil/admin/<name>), so the audit log says who. Creation certifies a key
 * the caller generated (the CLI sends a CSR); revocation revokes every certificate of the identity, which makes
 * requireActiveAdmin refuse its calls from then on.
 */
export class AdminIdentities {
  readonly #deps: AdminIdentitiesDeps;

  constructor(deps: AdminIdentitiesDeps) {
    this.#deps = deps;
  }

  async create(request: { name: string; csrDer: Uint8Array; createdBy: string }) {
    const { store, signer, clock } = this.#deps;
    const name = checkAdminName(request.name);
    const spiffeId = adminId(signer.trustDomain, name);
    if (!isAdminId(parseSpiffeId(spiffeId))) throw new SigilError(ErrorCode.INVALID_ARGUMENT, `bad admin name ${name}`);
    const csr = await checkAdminCsr(request.csrDer, spiffeId);
    const taken =
      (await store.getAdminIdentity(name)) !== undefined ||
      (await store.listCertificates({ spiffeId, kind: 'admin' })).length > 0;
    if (taken) {
      throw new SigilError(
        ErrorCode.INVALID_ARGUMENT,
        `admin ${name} exists (or existed): choose another name; see sigil admin list`,
      );
    }
    if (await store.hasPublicKey(csr.publicKeySha256)) {
      throw new SigilError(
        ErrorCode.CSR_KEY_REUSED,
        'the CSR uses a key that was already certified: generate a new key',
      );
    }
    const now = clock.now();
    const leaf = await signer.issueLeaf({
      spiffeId,
      publicKey: csr.publicKey,
      spki: csr.spki,
      ttlMs: this.#deps.ttlMs ?? ADMIN_SVID_TTL_MS,
      now,
    });
    await store.insertCertificate({
      serial: leaf.serial,
      spiffeId,
      kind: 'admin',
      keyType: leaf.keyType,
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
      issuerSerial: leaf.issuerSerial,
      status: 'active',
      issuedAt: now,
      publicKeySha256: leaf.publicKeySha256,
      der: leaf.der,
    });
    const inserted = await store.insertAdminIdentity({
      name,
      spiffeId,
      serial: leaf.serial,
      createdAt: now,
      createdBy: request.createdBy,
    });
    if (!inserted) {
      // Two creations of one name raced: this certificate must not stay usable.
      await this.#deps.revocation.revokeIdentity({ spiffeId, reason: 'superseded', force: true });
      throw new SigilError(ErrorCode.INVALID_ARGUMENT, `admin ${name} was created at the same time by another call`);
    }
    return { admin: await this.#get(name), chain: [leaf.der, ...leaf.chainDer] };
  }

  /** Every admin identity: those created here and any other admin certificate (the first, from `sigil ca init`). */
  async list(): Promise<AdminIdentity[]> {
    const { store } = this.#deps;
    const rows = new Map((await store.listAdminIdentities()).map((r) => [r.spiffeId, r]));
    const certificates = await store.listCertificates({ kind: 'admin' });
    const ids = [...new Set([...rows.keys(), ...certificates.map((c) => c.spiffeId)])].sort();
    return Promise.all(ids.map((id) => this.#describe(id, rows.get(id), certificates)));
  }

  /** Revokes every certificate of the identity. An admin cannot revoke the identity it calls with. */
  async revoke(name: string, by: string): Promise<AdminIdentity> {
    const { signer, store } = this.#deps;
    const spiffeId = adminId(signer.trustDomain, checkAdminName(name));
    if (spiffeId === by) {
      throw new SigilError(
        ErrorCode.REVOKE_PROTECTED,
        `${spiffeId} is the identity making this call: revoke it with another admin's credential`,
      );
    }
    const known =
      (await store.getAdminIdentity(name)) ?? (await store.listCertificates({ spiffeId, kind: 'admin' }))[0];
    if (!known) throw new SigilError(ErrorCode.NOT_FOUND, `no admin named ${name}: see sigil admin list`);
    await this.#deps.revocation.revokeIdentity({ spiffeId, reason: 'privilegeWithdrawn', force: true });
    await store.markAdminIdentityRevoked(name, this.#deps.clock.now(), by);
    return this.#get(name);
  }

  async #get(name: string): Promise<AdminIdentity> {
    const { store, signer } = this.#deps;
    const spiffeId = adminId(signer.trustDomain, name);
    return this.#describe(
      spiffeId,
      await store.getAdminIdentity(name),
      await store.listCertificates({ spiffeId, kind: 'admin' }),
    );
  }

  async #describe(
    spiffeId: string,
    row: Awaited<ReturnType<Store['getAdminIdentity']>>,
    certificates: Awaited<ReturnType<Store['listCertificates']>>,
  ): Promise<AdminIdentity> {
    // Ordered by notAfter: the last is the latest.
    const own = certificates.filter((c) => c.spiffeId === spiffeId);
    const latest = own.at(-1);
    const revoked = row?.revokedAt !== undefined || (await this.#deps.store.getRevokedIdentity(spiffeId)) !== undefined;
    const live = own.some((c) => c.status === 'active' && c.notAfter > this.#deps.clock.now());
    return {
      name: row?.name ?? nameOf(spiffeId),
      spiffeId,
      status: revoked ? 'revoked' : live ? 'active' : 'expired',
      createdAt: row?.createdAt ?? null,
      createdBy: row?.createdBy ?? '',
      revokedAt: row?.revokedAt ?? null,
      serial: latest?.serial ?? row?.serial ?? '',
      notAfter: latest?.notAfter ?? 0,
    };
  }
}
