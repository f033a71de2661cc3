import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNodeChild } from '../handshake/node-child.ts';
import type { TargetReady } from '../handshake/protocol.ts';
import type { HandshakeTarget } from '../handshake/targets.ts';

const script = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/** What the listener child reported when it stopped: the checks it ran and what it held. */
export interface ListenerStats {
  readonly revokedSerials: number;
  readonly checks: number;
  readonly refused: number;
}

export interface RevocationTarget extends HandshakeTarget {
  /** Set once the target has stopped. */
  readonly stats: () => ListenerStats | undefined;
}

/**
 * A handshake target for bench/handshake's runner: the sidecar's InboundListener with only the revocation check,
 * against `revokedSerials` revoked serials, forwarding to the one-byte app in its own process (measured apart).
 */
export function revocationListenerTarget(revokedSerials: number, policies = 0): RevocationTarget {
  let stats: ListenerStats | undefined;
  return {
    name: policies > 0 ? `revocation-${revokedSerials}+policies-${policies}` : `revocation-${revokedSerials}`,
    description:
      `sidecar InboundListener, authorizePeer = RevocationState.authorize with ${revokedSerials} revoked serials` +
      `${policies > 0 ? `, then PolicyEnforcer with ${policies} policies` : ''}, proxying to a one-byte TCP app`,
    stats: () => stats,
    async start(context) {
      const { dir, children, cpus } = context;
      const creds = await context.serverCredentials();
      const app = await startNodeChild<TargetReady>('one-byte app', script('../handshake/one-byte-app.ts'), [], {
        cpus,
        children,
      });
      const statsPath = join(dir, 'stats.json');
      try {
        const server = await startNodeChild<TargetReady>(
          'revocation listener',
          script('./revocation-listener.ts'),
          [
            creds.certChainPath,
            creds.keyPath,
            creds.bundlePath,
            String(app.ready.port),
            String(revokedSerials),
            statsPath,
            String(policies),
          ],
          { cpus, children },
        );
        return {
          address: { host: server.ready.host, port: server.ready.port },
          serverPids: [server.pid],
          auxPids: [app.pid],
          async stop() {
            await server.stop();
            await app.stop();
            try {
              stats = JSON.parse(readFileSync(statsPath, 'utf8')) as ListenerStats;
            } catch {
              // killed before it could write: the report says the stats are missing
            }
          },
        };
      } catch (err) {
        await app.stop();
        throw err;
      }
    },
  };
}
