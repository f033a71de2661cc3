import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { sigil, AdminServer } from '../../proto/index.ts';
import { joinTokenId, type JoinTokens } from '../issuance/join-tokens.ts';
import type { JoinTokenRecord } from '../store/store.ts';

function joinTokenInfo(r: JoinTokenRecord): sigil.v1.IJoinTokenInfo {
  return {
    id: joinTokenId(r),
    spiffeId: r.spiffeId,
    prefix: r.matchPrefix === true,
    createdAtUnixMs: r.createdAt,
    expiresAtUnixMs: r.expiresAt,
    usesRemaining: r.usesRemaining,
    revokedAtUnixMs: r.revokedAt ?? 0,
  };
}
import type { RevocationRegistry } from '../revocation/revocation-registry.ts';
import type { CertificateKind, Store } from '../store/store.ts';
import type { Clock } from '../../common/clock.ts';
import { requireActiveAdmin, type verifiedAdmin } from './caller.ts';
import { policyHandlers } from './policy-handlers.ts';
import type { PolicyService } from '../policy/policy-service.ts';
import { unary, type UnaryEdgeDeps } from './unary.ts';
import { certificateMessage } from './certificate-message.ts';
import { rotationHandlers } from './rotation-handlers.ts';
import { signingHandlers } from './signing-handlers.ts';
import { lifecycleHandlers } from './lifecycle-handlers.ts';
import { dashboardLoginHandler, type DashboardLoginDeps } from './dashboard-login-handler.ts';
import type { InventoryService } from '../lifecycle/inventory-service.ts';
import type { SigningCertificateIssuer } from '../signing/signing-certificates.ts';
import type { RotationOrderService } from '../rotation/rotation-orders.ts';
import type { CaRotation } from '../ca-rotation.ts';
import type { RotationStep } from '../ca/rotation-schedule.ts';
import { auditHandlers, type AuditHandlerDeps } from './audit-handlers.ts';

export interface AdminHandlerDeps extends UnaryEdgeDeps {
  readonly store: Store;
  readonly tokens: JoinTokens;
  readonly clock: Clock;
  readonly trustDomain: string;
  readonly revocation: Pick<RevocationRegistry, 'revokeSerial' | 'revokeIdentity' | 'unrevokeIdentity'>;
  readonly policies: PolicyService;
  readonly orders: RotationOrderService;
  readonly caRotation: CaRotation;
  readonly signing: Pick<SigningCertificateIssuer, 'issue'>;
  readonly inventory: Pick<InventoryService, 'list' | 'record' | 'annotate'>;
  readonly scheduled?: () => Promise<RotationStep>;
  readonly onTokenCreated?: () => void;
  readonly dashboardLogin?: DashboardLoginDeps['dashboardLogin'];
  /** The audit log, admin identities and the fleet view (audit-handlers.ts). */
  readonly auditing: Pick<AuditHandlerDeps, 'audit' | 'admins' | 'fleet' | 'roots'>;
}

const KINDS: readonly CertificateKind[] = [
  'root',
  'intermediate',
  'svid',
  'control-plane',
  'admin',
  'acme',
  'code-signing',
  'timestamping',
];
const SERIAL = /^[0-9a-f]{1,64}$/;

/**
 * Admin calls: the caller must present an admin SVID that verifies against the bundle, is in the inventory and
 * is not revoked.
 */
export function adminHandlers(deps: AdminHandlerDeps): AdminServer {
  const guard = async (call: Parameters<typeof verifiedAdmin>[0]) => {
    await requireActiveAdmin(call, deps.trustDomain, deps.store);
  };
  return {
    createJoinToken: unary('CreateJoinToken', deps, async (request: sigil.v1.CreateJoinTokenRequest, call) => {
      await guard(call);
      const created = await deps.tokens.create({
        spiffeId: request.spiffeId,
        ttlMs: request.ttlSeconds * 1000,
        uses: request.uses,
        prefix: request.prefix,
      });
      deps.onTokenCreated?.();
      return {
        token: created.token,
        spiffeId: created.spiffeId,
        expiresAtUnixMs: created.expiresAt,
        uses: created.uses,
        prefix: created.prefix,
        id: created.id,
      };
    }),
    listJoinTokens: unary('ListJoinTokens', deps, async (_request: sigil.v1.ListJoinTokensRequest, call) => {
      await guard(call);
      return { tokens: (await deps.tokens.list()).map(joinTokenInfo) };
    }),
    revokeJoinToken: unary('RevokeJoinToken', deps, async (request: sigil.v1.RevokeJoinTokenRequest, call) => {
      await guard(call);
      return joinTokenInfo(await deps.tokens.revoke(request.id));
    }),
    listCertificates: unary('ListCertificates', deps, async (request: sigil.v1.ListCertificatesRequest, call) => {
      await guard(call);
      if (request.kind !== '' && !KINDS.includes(request.kind as CertificateKind)) {
        throw new SigilError(
          ErrorCode.INVALID_ARGUMENT,
          `unknown certificate kind ${JSON.stringify(request.kind)}: use one of ${KINDS.join(', ')}`,
        );
      }
      const now = deps.clock.now();
      const records = await deps.store.listCertificates({
        ...(request.spiffeId !== '' ? { spiffeId: request.spiffeId } : {}),
        ...(request.kind !== '' ? { kind: request.kind as CertificateKind } : {}),
        ...(request.expiringWithinSeconds > 0
          ? { notAfterBefore: now + request.expiringWithinSeconds * 1000, notAfterAfter: now }
          : {}),
      });
      return { certificates: records.map(certificateMessage) };
    }),
    ...auditHandlers({ ...deps, ...deps.auditing }),
    ...rotationHandlers({ ...deps, guard }),
    ...signingHandlers({ ...deps, guard }),
    ...lifecycleHandlers({ ...deps, guard }),
    ...dashboardLoginHandler(deps),
    ...policyHandlers({
      ...deps,
      guard,
      policies: deps.policies,
      revokedIdentity: (id) => deps.store.getRevokedIdentity(id),
      knownIdentities: async () => [
        ...new Set(
          (await deps.store.listCertificates({ kind: 'svid', status: 'active', notAfterAfter: deps.clock.now() })).map(
            (c) => c.spiffeId,
          ),
        ),
      ],
    }),
    revoke: unary('Revoke', deps, async (request: sigil.v1.RevokeRequest, call) => {
      await guard(call);
      if ((request.serial === '') === (request.spiffeId === '')) {
        throw new SigilError(
          ErrorCode.INVALID_ARGUMENT,
          'name exactly one of serial and SPIFFE ID to revoke (--serial or --spiffe-id)',
        );
      }
      const common = { reason: request.reason, effectiveAt: Number(request.effectiveAtUnixMs), force: request.force };
      const result =
        request.serial !== ''
          ? await deps.revocation.revokeSerial({ serial: request.serial, ...common })
          : await deps.revocation.revokeIdentity({ spiffeId: request.spiffeId, ...common });
      return { revokedSerials: [...result.revokedSerials], crlNumber: result.crlNumber };
    }),
    unrevoke: unary('Unrevoke', deps, async (request: sigil.v1.UnrevokeRequest, call) => {
      await guard(call);
      if (request.spiffeId === '')
        throw new SigilError(ErrorCode.INVALID_ARGUMENT, 'name the SPIFFE ID to unrevoke (--spiffe-id)');
      return deps.revocation.unrevokeIdentity(request.spiffeId);
    }),
    getCertificate: unary('GetCertificate', deps, async (request: sigil.v1.GetCertificateRequest, call) => {
      await guard(call);
      const serial = request.serial.toLowerCase().replace(/:/g, '');
      if (!SERIAL.test(serial))
        throw new SigilError(
          ErrorCode.INVALID_ARGUMENT,
          `malformed serial ${JSON.stringify(request.serial)}: give it in hex, e.g. 3f9a…`,
        );
      const record = await deps.store.getCertificate(serial);
      if (!record)
        throw new SigilError(
          ErrorCode.NOT_FOUND,
          `no certificate with serial ${serial} in the inventory: see sigil certs list`,
        );
      return certificateMessage(record);
    }),
  };
}
