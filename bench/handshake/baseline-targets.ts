import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freeLoopbackPort } from '../lib/free-port.ts';
import { findCommand, type SystemRequirement } from '../lib/system-packages.ts';
import { startExternalServer } from './external-server.ts';
import { haproxyConfig } from './haproxy-config.ts';
import { nginxConfig, streamModuleKind } from './nginx-config.ts';
import type { HandshakeTarget, RunningTarget, TargetContext } from './targets.ts';
import { startInFrontOfApp } from './upstream-app.ts';

const STREAM_MODULE_DIRS = ['/usr/lib/nginx/modules', '/usr/share/nginx/modules'];

function nginxVersionOutput(): string {
  const nginx = findCommand('nginx');
  if (!nginx) return '';
  // nginx -V prints its build options to stderr
  const result = spawnSync(nginx, ['-V'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return `${result.stdout ?? ''}${result.stderr ?? ''}`;
}

function streamModulePath(): string | undefined {
  return STREAM_MODULE_DIRS.map((dir) => join(dir, 'ngx_stream_module.so')).find((path) => existsSync(path));
}

/** The `load_module` path this machine's nginx needs for its stream module; undefined when it is built in. */
export function nginxStreamModuleToLoad(): string | undefined {
  return streamModuleKind(nginxVersionOutput()) === 'dynamic' ? streamModulePath() : undefined;
}

/** nginx with its stream module: Debian ships the module as a package of its own. */
export const NGINX_REQUIREMENT: SystemRequirement = {
  purpose: 'the nginx baseline',
  command: 'nginx',
  packages: ['nginx-light', 'libnginx-mod-stream'],
  missing() {
    const kind = streamModuleKind(nginxVersionOutput());
    if (kind === 'absent') return 'this nginx was built without the stream module';
    if (kind === 'dynamic' && !streamModulePath())
      return 'the nginx stream module (ngx_stream_module.so) is not installed';
    return undefined;
  },
};

export const HAPROXY_REQUIREMENT: SystemRequirement = {
  purpose: 'the HAProxy baseline',
  command: 'haproxy',
  packages: ['haproxy'],
};

/** Starts the app, then the external proxy from the argv `configure` writes for its listen port and the app's. */
function startProxyTarget(
  context: TargetContext,
  what: string,
  configure: (ports: { listen: number; upstream: number }) => Promise<string[]>,
): Promise<RunningTarget> {
  return startInFrontOfApp(context, async (appPort) => {
    const listen = await freeLoopbackPort();
    const argv = await configure({ listen, upstream: appPort });
    const server = await startExternalServer(what, argv, {
      port: listen,
      cpus: context.cpus,
      children: context.children,
    });
    return {
      address: { host: '127.0.0.1', port: listen },
      get serverPids() {
        return server.pids();
      },
      stop: () => server.stop(),
    };
  });
}

export const nginxTarget: HandshakeTarget = {
  name: 'nginx',
  requirements: [NGINX_REQUIREMENT],
  description: 'nginx (Debian), 1 worker, stream module terminating mTLS and proxying to the same app',
  async start(context) {
    const creds = await context.serverCredentials();
    return startProxyTarget(context, 'nginx', async (ports) => {
      const config = join(context.dir, 'nginx.conf');
      writeFileSync(
        config,
        nginxConfig({
          dir: context.dir,
          listenPort: ports.listen,
          upstreamPort: ports.upstream,
          certChainPath: creds.certChainPath,
          keyPath: creds.keyPath,
          bundlePath: creds.bundlePath,
          streamModulePath: nginxStreamModuleToLoad(),
        }),
        { mode: 0o600 },
      );
      return [findCommand('nginx') ?? 'nginx', '-p', context.dir, '-c', config, '-e', join(context.dir, 'error.log')];
    });
  },
};

export const haproxyTarget: HandshakeTarget = {
  name: 'haproxy',
  requirements: [HAPROXY_REQUIREMENT],
  description: 'HAProxy (Debian), 1 thread, TCP mode terminating mTLS and proxying to the same app',
  async start(context) {
    const creds = await context.serverCredentials();
    return startProxyTarget(context, 'HAProxy', async (ports) => {
      const certAndKeyPath = join(context.dir, 'svid-and-key.pem');
      writeFileSync(
        certAndKeyPath,
        `${readFileSync(creds.certChainPath, 'utf8')}${readFileSync(creds.keyPath, 'utf8')}`,
        { mode: 0o600 },
      );
      const config = join(context.dir, 'haproxy.cfg');
      writeFileSync(
        config,
        haproxyConfig({
          dir: context.dir,
          listenPort: ports.listen,
          upstreamPort: ports.upstream,
          certAndKeyPath,
          bundlePath: creds.bundlePath,
        }),
        { mode: 0o600 },
      );
      return [findCommand('haproxy') ?? 'haproxy', '-db', '-f', config];
    });
  },
};
