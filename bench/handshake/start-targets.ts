import { join } from 'node:path';
import type { ChildProcesses } from '../lib/child-processes.ts';
import { SERVER_ID, type BenchPki } from './bench-pki.ts';
import type { CredentialFiles } from './protocol.ts';
import { targetDir, type HandshakeTarget, type RunningTarget } from './targets.ts';
import type { AppKind } from './upstream-app.ts';

/**
 * Starts every target in order into `running` (so the caller stops what started even when a later one fails). The
 * server SVID all of them serve is the first one a target obtained itself (the sidecar's), else one issued here.
 */
export async function startTargets(
  targets: readonly HandshakeTarget[],
  setup: { dir: string; pki: BenchPki; app: AppKind; cpus: string | undefined; children: ChildProcesses },
  running: RunningTarget[],
): Promise<void> {
  const { dir, pki } = setup;
  let published: CredentialFiles | undefined;
  let issued: Promise<CredentialFiles> | undefined;
  for (const target of targets) {
    const started = await target.start({
      dir: targetDir(dir, target),
      pki,
      app: setup.app,
      children: setup.children,
      cpus: setup.cpus,
      serverCredentials: () =>
        published ? Promise.resolve(published) : (issued ??= pki.issue(SERVER_ID, join(dir, 'server'))),
    });
    running.push(started);
    published ??= started.credentials;
  }
}
