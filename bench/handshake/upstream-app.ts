import { fileURLToPath } from 'node:url';
import type { ChildProcesses } from '../lib/child-processes.ts';
import { startNodeChild, type NodeChild } from './node-child.ts';
import type { TargetReady } from './protocol.ts';
import type { RunningTarget, TargetContext } from './targets.ts';

/**
 * What the application behind a proxy does with a connection: `one-byte` answers one byte and closes (a handshake
 * costs one connection), `echo` echoes requests on a long-lived connection (keep-alive latency).
 */
export type AppKind = 'one-byte' | 'echo';

const SCRIPTS: Readonly<Record<AppKind, string>> = {
  'one-byte': fileURLToPath(new URL('./one-byte-app.ts', import.meta.url)),
  echo: fileURLToPath(new URL('./echo-app.ts', import.meta.url)),
};

/** Starts the application a proxying target forwards to, as its own process (its CPU is measured apart). */
export function startUpstreamApp(
  kind: AppKind,
  options: { cpus: string | undefined; children: ChildProcesses },
): Promise<NodeChild<TargetReady>> {
  return startNodeChild<TargetReady>(`${kind} app`, SCRIPTS[kind], [], options);
}

/** What a proxy in front of the app reports once it serves. */
export type StartedProxy = Omit<RunningTarget, 'auxPids'>;

/**
 * Starts the app, then the proxy `startProxy` starts in front of it (given the app's port). The proxy is the server
 * measured, the app a helper measured apart; stopping stops both, and the app is stopped if the proxy fails to start.
 */
export async function startInFrontOfApp(
  context: TargetContext,
  startProxy: (appPort: number) => Promise<StartedProxy>,
): Promise<RunningTarget> {
  const app = await startUpstreamApp(context.app, { cpus: context.cpus, children: context.children });
  try {
    const proxy = await startProxy(app.ready.port);
    return {
      address: proxy.address,
      // read at each window: nginx's worker is forked after its master already accepts connections
      get serverPids() {
        return proxy.serverPids;
      },
      auxPids: [app.pid],
      ...(proxy.credentials ? { credentials: proxy.credentials } : {}),
      async stop() {
        await proxy.stop();
        await app.stop();
      },
    };
  } catch (err) {
    await app.stop();
    throw err;
  }
}
