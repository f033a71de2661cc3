import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NGINX_REQUIREMENT, nginxStreamModuleToLoad } from '../handshake/baseline-targets.ts';
import { startExternalServer, type ExternalServer } from '../handshake/external-server.ts';
import { nginxConfig, nginxOutboundConfig } from '../handshake/nginx-config.ts';
import { freeLoopbackPort } from '../lib/free-port.ts';
import { findCommand } from '../lib/system-packages.ts';
import { stopAll, type MeshContext, type MeshPath } from './mesh-path.ts';
import { sessionsFromNginxLog } from './session-counts.ts';

/** One nginx in a directory of its own (pid file, logs), listening on a free port given to `configure`. */
async function startNginx(
  context: MeshContext,
  side: 'inbound' | 'outbound',
  configure: (input: { dir: string; port: number }) => string,
): Promise<{ server: ExternalServer; port: number }> {
  const dir = join(context.dir, side);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const port = await freeLoopbackPort();
  const config = join(dir, 'nginx.conf');
  writeFileSync(config, configure({ dir, port }), { mode: 0o600 });
  const argv = [findCommand('nginx') ?? 'nginx', '-p', dir, '-c', config, '-e', join(dir, 'error.log')];
  const server = await startExternalServer(`nginx (${side})`, argv, {
    port,
    cpus: context.cpus,
    children: context.children,
  });
  return { server, port };
}

/**
 * Two nginx instances with one worker each (stream module): outbound with `proxy_ssl` and the client SVID, inbound
 * with `ssl_verify_client on`. Resumed sessions are counted from the inbound one's `$ssl_session_reused` log, the
 * only place nginx shows them.
 */
function nginxPath(name: string, resumption: boolean): MeshPath {
  return {
    name,
    resumption,
    requirements: [NGINX_REQUIREMENT],
    description: `two nginx (1 worker each), proxy_ssl_session_reuse ${resumption ? 'on' : 'off'}`,
    async start(context) {
      const { server, client } = await context.credentials();
      const streamModulePath = nginxStreamModuleToLoad();
      const sessionLogPath = join(context.dir, 'sessions.log');
      const stoppers: (() => Promise<void>)[] = [];
      try {
        const inbound = await startNginx(context, 'inbound', ({ dir, port }) =>
          nginxConfig({
            dir,
            listenPort: port,
            upstreamPort: context.app.port,
            certChainPath: server.certChainPath,
            keyPath: server.keyPath,
            bundlePath: server.bundlePath,
            streamModulePath,
            sessionLogPath,
          }),
        );
        stoppers.push(() => inbound.server.stop());
        const outbound = await startNginx(context, 'outbound', ({ dir, port }) =>
          nginxOutboundConfig({
            dir,
            listenPort: port,
            upstreamPort: inbound.port,
            certChainPath: client.certChainPath,
            keyPath: client.keyPath,
            bundlePath: client.bundlePath,
            sessionReuse: resumption,
            streamModulePath,
          }),
        );
        stoppers.push(() => outbound.server.stop());
        return {
          address: { host: '127.0.0.1', port: outbound.port },
          get proxyPids() {
            return [...outbound.server.pids(), ...inbound.server.pids()];
          },
          sessions: async () =>
            sessionsFromNginxLog(existsSync(sessionLogPath) ? readFileSync(sessionLogPath, 'utf8') : ''),
          stop: () => stopAll(stoppers),
        };
      } catch (err) {
        await stopAll(stoppers);
        throw err;
      }
    },
  };
}

export const nginxReusePath = nginxPath('nginx-session-reuse', true);
export const nginxNoReusePath = nginxPath('nginx-no-reuse', false);
