import { fileURLToPath } from 'node:url';
import type { ChildProcesses } from '../lib/child-processes.ts';
import { startNodeChild, type NodeChild } from './node-child.ts';
import type { TargetReady } from './protocol.ts';

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
export function startUpstreamApp(kind: AppKind, options: { cpus: string | undefined; children: ChildProcesses }): Promise<NodeChild<TargetReady>> {
  return startNodeChild<TargetReady>(`${kind} app`, SCRIPTS[kind], [], options);
}
