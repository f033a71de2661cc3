import type { Clock } from '../../common/clock.ts';
import type { KeyType } from '../../common/key-type.ts';
import type { Logger } from '../../common/logger.ts';
import type { TlsMaterial } from '../identity/credential-source.ts';
import type { WorkloadIdentityApi } from '../identity/identity-api.ts';
import type { JwtBundleState } from '../trust/jwt-bundle-state.ts';
import { JwtSvidCache } from './jwt-svid-cache.ts';
import { WorkloadApiServer, type WorkloadApiServerDeps } from './workload-api-server.ts';
import { WorkloadSvidSource } from './workload-svid-source.ts';

export interface WorkloadApiOptions {
  readonly socketPath: string;
  readonly mode: number;
  readonly spiffeId: string;
  readonly trustDomain: string;
  readonly keyType: KeyType;
}

export interface WorkloadApiDeps {
  readonly api: WorkloadIdentityApi;
  /** The sidecar's own SVID of the moment. */
  readonly proxy: () => TlsMaterial | undefined;
  readonly trust: WorkloadApiServerDeps['trust'];
  readonly jwtBundle: JwtBundleState;
  readonly clock: Clock;
  readonly random: () => number;
  readonly logger: Logger;
}

/** The Workload API's parts, built only when the sidecar serves it (loaded by `import()` from the sidecar). */
export function createWorkloadApi(options: WorkloadApiOptions, deps: WorkloadApiDeps) {
  const logger = deps.logger.child({ component: 'workload-api' });
  const svids = new WorkloadSvidSource(
    { spiffeId: options.spiffeId, trustDomain: options.trustDomain, keyType: options.keyType },
    { api: deps.api, proxy: deps.proxy, clock: deps.clock, random: deps.random, logger },
  );
  const jwtSvids = new JwtSvidCache({
    api: deps.api,
    proxy: deps.proxy,
    keys: () => deps.jwtBundle.keys,
    trustDomain: options.trustDomain,
    clock: deps.clock,
  });
  const server = new WorkloadApiServer(
    {
      socketPath: options.socketPath,
      mode: options.mode,
      spiffeId: options.spiffeId,
      trustDomain: options.trustDomain,
    },
    { svids, trust: deps.trust, jwtBundle: deps.jwtBundle, jwtSvids, clock: deps.clock, logger },
  );
  return { svids, jwtSvids, server };
}

export type WorkloadApi = ReturnType<typeof createWorkloadApi>;
