import type { Clock } from '../../common/clock.ts';
import type { AdminServer, sigil } from '../../proto/index.ts';
import type { AdminIdentities, AdminIdentity } from '../audit/admin-identities.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { FleetView, SidecarRecord } from '../fleet/fleet-view.ts';
import type { Store } from '../store/store.ts';
import { requireActiveAdmin } from './caller.ts';
import { unary, type UnaryEdgeDeps } from './unary.ts';

export interface AuditHandlerDeps extends UnaryEdgeDeps {
  readonly store: Pick<Store, 'getCertificate'>;
  readonly trustDomain: string;
  readonly clock: Clock;
  readonly audit: Pick<AuditLog, 'list'>;
  readonly admins: Pick<AdminIdentities, 'create' | 'list' | 'revoke'>;
  readonly fleet: Pick<FleetView, 'list'>;
  /** DER roots of the bundle: what a new admin credential trusts the control plane by. */
  readonly roots: () => Uint8Array[];
}

function adminMessage(a: AdminIdentity): sigil.v1.IAdminIdentity {
  return {
    name: a.name,
    spiffeId: a.spiffeId,
    status: a.status,
    createdAtUnixMs: a.createdAt ?? 0,
    createdBy: a.createdBy,
    revokedAtUnixMs: a.revokedAt ?? 0,
    serial: a.serial,
    notAfterUnixMs: a.notAfter,
  };
}

function sidecarMessage(s: SidecarRecord): sigil.v1.ISidecarInstance {
  return {
    spiffeId: s.spiffeId,
    instanceId: s.instanceId,
    sidecarVersion: s.sidecarVersion,
    svidSerial: s.svidSerial,
    svidNotAfterUnixMs: s.svidNotAfter.getTime(),
    lastTrustFetchAtUnixMs: s.lastTrustFetchAt?.getTime() ?? 0,
    lastRenewalAtUnixMs: s.lastRenewalAt?.getTime() ?? 0,
    lastSeenUnixMs: s.lastSeenAt.getTime(),
    versionsKnown: s.versionsKnown,
    bundleSequence: s.bundleSequence ?? 0,
    bundleCurrent: s.bundleCurrent,
    crlNumber: s.crlNumber ?? 0,
    crlCurrent: s.crlCurrent,
    policyVersion: s.policyVersion ?? 0,
    policyCurrent: s.policyCurrent,
    stale: s.stale,
  };
}

type AuditRpcs = Pick<AdminServer, 'listAudit' | 'createAdmin' | 'listAdmins' | 'revokeAdmin' | 'listSidecars'>;

/** The audit log, admin identities and the fleet view on the Admin API (all behind requireActiveAdmin). */
export function auditHandlers(deps: AuditHandlerDeps): AuditRpcs {
  const admin = (call: Parameters<typeof requireActiveAdmin>[0]) =>
    requireActiveAdmin(call, deps.trustDomain, deps.store);
  return {
    listAudit: unary('ListAudit', deps, async (request: sigil.v1.ListAuditRequest, call) => {
      await admin(call);
      const since = Number(request.sinceUnixMs);
      const page = await deps.audit.list({
        ...(since > 0 ? { since: new Date(since) } : {}),
        ...(request.actor !== '' ? { actor: request.actor } : {}),
        ...(request.limit > 0 ? { limit: request.limit } : {}),
        ...(request.cursor !== '' ? { after: request.cursor } : {}),
      });
      return {
        entries: page.entries.map((e) => ({
          id: e.id,
          atUnixMs: e.at.getTime(),
          actor: e.actor,
          action: e.action,
          target: e.target,
          result: e.result,
          requestId: e.requestId,
          detail: e.detail ?? '',
        })),
        nextCursor: page.next ?? '',
      };
    }),
    createAdmin: unary('CreateAdmin', deps, async (request: sigil.v1.CreateAdminRequest, call) => {
      const caller = await admin(call);
      const created = await deps.admins.create({
        name: request.name,
        csrDer: request.csr,
        createdBy: caller.spiffeId.uri,
      });
      return { admin: adminMessage(created.admin), svidChain: created.chain, roots: deps.roots() };
    }),
    listAdmins: unary('ListAdmins', deps, async (_request: sigil.v1.ListAdminsRequest, call) => {
      await admin(call);
      return { admins: (await deps.admins.list()).map(adminMessage) };
    }),
    revokeAdmin: unary('RevokeAdmin', deps, async (request: sigil.v1.RevokeAdminRequest, call) => {
      const caller = await admin(call);
      return adminMessage(await deps.admins.revoke(request.name, caller.spiffeId.uri));
    }),
    listSidecars: unary('ListSidecars', deps, async (request: sigil.v1.ListSidecarsRequest, call) => {
      await admin(call);
      const staleAfterMs = Number(request.staleAfterMs);
      const now = deps.clock.now();
      const sidecars = await deps.fleet.list({ now: new Date(now), ...(staleAfterMs > 0 ? { staleAfterMs } : {}) });
      return { sidecars: sidecars.map(sidecarMessage), nowUnixMs: now };
    }),
  };
}
