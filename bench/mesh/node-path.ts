import { fileURLToPath } from 'node:url';
import { SERVER_ID } from '../handshake/bench-pki.ts';
import { startNodeChild } from '../handshake/node-child.ts';
import type { TargetReady } from '../handshake/protocol.ts';
import { stopAll, type MeshPath } from './mesh-path.ts';
import type { NodePairCounts } from './node-tls-pair-child.ts';

const CHILD = fileURLToPath(new URL('./node-tls-pair-child.ts', import.meta.url));

/** Tickets the outbound half keeps, as many as a sidecar keeps per upstream. */
const TICKETS = 4;

/**
 * Two plain node:tls proxies (`node-tls-pair-child.ts`): the sidecar pair minus everything Sigil adds, so what the
 * Sigil pair costs beyond it is Sigil's own, and what it costs is Node's. Resumed sessions are counted by the
 * outbound half (`isSessionReused()`).
 */
export const nodeTlsResumptionPath: MeshPath = {
  name: 'node-tls-resumption',
  resumption: true,
  description: `two plain node:tls proxies, outbound offering its newest of ${TICKETS} tickets (the Node floor)`,
  async start(context) {
    const { server, client } = await context.credentials();
    const stoppers: (() => Promise<void>)[] = [];
    try {
      const inbound = await startNodeChild<TargetReady>(
        'node:tls inbound proxy',
        CHILD,
        ['inbound', server.certChainPath, server.keyPath, server.bundlePath, String(context.app.port)],
        { cpus: context.cpus, children: context.children },
      );
      stoppers.push(() => inbound.stop());
      const outbound = await startNodeChild<TargetReady>(
        'node:tls outbound proxy',
        CHILD,
        [
          'outbound',
          client.certChainPath,
          client.keyPath,
          client.bundlePath,
          String(inbound.ready.port),
          SERVER_ID,
          String(TICKETS),
        ],
        { cpus: context.cpus, children: context.children },
      );
      stoppers.push(() => outbound.stop());
      return {
        address: { host: outbound.ready.host, port: outbound.ready.port },
        proxyPids: [outbound.pid, inbound.pid],
        sessions: () =>
          new Promise((resolve) => {
            outbound.child.once('message', (m: NodePairCounts) =>
              resolve({ handshakes: m.handshakes, resumed: m.resumed }),
            );
            outbound.child.send({ type: 'counts' });
          }),
        stop: () => stopAll(stoppers),
      };
    } catch (err) {
      await stopAll(stoppers);
      throw err;
    }
  },
};
