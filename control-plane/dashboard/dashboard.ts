import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { HostPort } from '../../common/address.ts';
import type { Clock } from '../../common/clock.ts';
import type { Logger } from '../../common/logger.ts';
import type { DashboardSettings } from '../config.ts';
import { ControlPlaneData, type ControlPlaneDataDeps } from './control-plane-data.ts';
import { loadDashboardKey } from './dashboard-key.ts';
import type { DashboardAudit } from './dashboard-data.ts';
import { DashboardServer } from './dashboard-server.ts';
import { LoginTokens } from './login-tokens.ts';
import { SessionCodec } from './session-codec.ts';

/**
 * Where the bundled front-end is: dist/dashboard-ui, next to the compiled control plane (dist/control-plane/...)
 * or, running from the sources, in the repository's dist/.
 */
export function defaultAssetsDir(): string {
  const candidates = ['../../dashboard-ui', '../../dist/dashboard-ui'].map((p) =>
    fileURLToPath(new URL(p, import.meta.url)),
  );
  return candidates.find((dir) => existsSync(dir)) ?? (candidates[1] as string);
}

/** Builds and starts the dashboard of a control plane: its key, its login tokens, its data over the services. */
export async function startDashboard(
  settings: DashboardSettings,
  deps: ControlPlaneDataDeps & {
    readonly dataDir: string;
    /** The CA passphrase: the session key is encrypted with it ('' when the CA keys are in a PKCS#11 token). */
    readonly passphrase: string;
    readonly logger: Logger;
    readonly clock: Clock;
    readonly auditLog: DashboardAudit;
    readonly assetsDir?: string | undefined;
  },
): Promise<{ server: DashboardServer; address: HostPort }> {
  const key = await loadDashboardKey(deps.dataDir, deps.passphrase, deps.logger);
  const server = new DashboardServer(
    {
      listen: settings.listen,
      tls: settings.tls,
      publicUrl: settings.publicUrl,
      trustDomain: deps.trustDomain,
      assetsDir: deps.assetsDir ?? defaultAssetsDir(),
    },
    {
      data: new ControlPlaneData(deps),
      audit: deps.auditLog,
      codec: new SessionCodec({ key, trustDomain: deps.trustDomain }),
      loginTokens: new LoginTokens({ clock: deps.clock }),
      clock: deps.clock,
      logger: deps.logger,
    },
  );
  return { server, address: await server.start() };
}
