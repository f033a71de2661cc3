import { SERVER_ID } from '../handshake/bench-pki.ts';
import { GoProxyProcess } from '../handshake/go-proxy-process.ts';
import { goBinary } from '../lib/go-client-build.ts';
import { stopAll, type MeshPath } from './mesh-path.ts';

/** Sessions the outbound Go proxy keeps and offers when its cache is on: a few per upstream, as a sidecar would. */
const SESSION_CACHE_SIZE = 8;

/**
 * Two bench/go-proxy processes (Go crypto/tls, ghostunnel's engine): outbound with the client SVID, verifying the
 * server's chain and SPIFFE ID, and inbound requiring and verifying the client certificate. Resumed sessions are
 * counted by the outbound proxy (`DidResume`).
 */
function goPath(name: string, resumption: boolean): MeshPath {
  return {
    name,
    resumption,
    description: `two Go crypto/tls proxies, client session cache ${resumption ? `on (${SESSION_CACHE_SIZE})` : 'off'}`,
    prepare: (log) => {
      goBinary('go-proxy', log);
    },
    async start(context) {
      const binary = goBinary('go-proxy');
      const { server, client } = await context.credentials();
      const stoppers: (() => Promise<void>)[] = [];
      try {
        const inbound = await GoProxyProcess.start(
          { binary, mode: 'inbound', forward: context.app, credentials: server, cpus: context.cpus },
          context.children,
        );
        stoppers.push(() => inbound.stop());
        const outbound = await GoProxyProcess.start(
          {
            binary,
            mode: 'outbound',
            forward: inbound.address,
            credentials: client,
            expect: SERVER_ID,
            sessionCache: resumption ? SESSION_CACHE_SIZE : 0,
            cpus: context.cpus,
          },
          context.children,
        );
        stoppers.push(() => outbound.stop());
        return {
          address: outbound.address,
          proxyPids: [outbound.pid, inbound.pid],
          sessions: () => outbound.counts(),
          stop: () => stopAll(stoppers),
        };
      } catch (err) {
        await stopAll(stoppers);
        throw err;
      }
    },
  };
}

export const goCachePath = goPath('go-session-cache', true);
export const goNoCachePath = goPath('go-no-cache', false);
