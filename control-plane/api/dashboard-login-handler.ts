import type { ServerUnaryCall } from '@grpc/grpc-js';
import type { Store } from '../store/store.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { AdminServer, sigil } from '../../proto/index.ts';
import { requireActiveAdmin } from './caller.ts';
import { unary, type UnaryEdgeDeps } from './unary.ts';

export interface DashboardLoginDeps extends UnaryEdgeDeps {
  readonly store: Pick<Store, 'getCertificate'>;
  readonly trustDomain: string;
  /** Absent: the dashboard is not configured. */
  readonly dashboardLogin?: (admin: { spiffeId: string; serial: string }) => { url: string; expiresAt: number };
}

/** `sigil dashboard login`: the session it leads to speaks for the admin whose credential made this call. */
export function dashboardLoginHandler(deps: DashboardLoginDeps): Pick<AdminServer, 'createDashboardLogin'> {
  return {
    createDashboardLogin: unary(
      'CreateDashboardLogin',
      deps,
      async (_request: sigil.v1.CreateDashboardLoginRequest, call: ServerUnaryCall<unknown, unknown>) => {
        const admin = await requireActiveAdmin(call, deps.trustDomain, deps.store);
        if (!deps.dashboardLogin)
          throw new SigilError(
            ErrorCode.DASHBOARD_OFF,
            'this control plane serves no dashboard: add `dashboard: { listen: 127.0.0.1:7081 }` to its cp.yaml and restart it',
          );
        const login = deps.dashboardLogin({ spiffeId: admin.spiffeId.uri, serial: admin.serial });
        return { url: login.url, expiresAtUnixMs: login.expiresAt };
      },
    ),
  };
}
