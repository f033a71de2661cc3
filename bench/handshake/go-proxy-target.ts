import { goBinary } from '../lib/go-client-build.ts';
import { GoProxyProcess } from './go-proxy-process.ts';
import type { HandshakeTarget } from './targets.ts';
import { startInFrontOfApp } from './upstream-app.ts';

/**
 * bench/go-proxy in inbound mode: Go's crypto/tls (ghostunnel's engine) terminating mTLS with the same SVID and
 * bundle, client certificate required and verified, piping to the same app with no further checks. Go spreads its
 * goroutines over GOMAXPROCS threads, all of them on the pinned server core.
 */
export const goProxyTarget: HandshakeTarget = {
  name: 'go-tls-proxy',
  description: "Go crypto/tls proxy (ghostunnel's engine), same SVID and bundle, client certificate verified",
  prepare: (log) => {
    goBinary('go-proxy', log);
  },
  async start(context) {
    const creds = await context.serverCredentials();
    const binary = goBinary('go-proxy');
    return startInFrontOfApp(context, async (appPort) => {
      const proxy = await GoProxyProcess.start(
        {
          binary,
          mode: 'inbound',
          forward: { host: '127.0.0.1', port: appPort },
          credentials: creds,
          cpus: context.cpus,
        },
        context.children,
      );
      return { address: proxy.address, serverPids: [proxy.pid], stop: () => proxy.stop() };
    });
  },
};
