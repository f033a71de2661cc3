import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLIENT_ID, SERVER_ID } from '../handshake/bench-pki.ts';
import { startNodeChild, type NodeChild } from '../handshake/node-child.ts';
import type { TargetReady } from '../handshake/protocol.ts';
import { stopAll, type MeshContext, type MeshPath } from './mesh-path.ts';
import { sessionsFromMetrics } from './session-counts.ts';

const SIDECAR_CHILD = fileURLToPath(new URL('../handshake/sidecar-target.ts', import.meta.url));

/** A real sidecar (`sigil sidecar run`'s code) with its own SVID for `spiffeId` and the given listener lines. */
async function startSidecar(
  context: MeshContext,
  side: 'inbound' | 'outbound',
  spiffeId: string,
  resumption: boolean,
  listener: string,
): Promise<NodeChild<TargetReady>> {
  const dir = join(context.dir, side);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'token'), await context.pki.createToken(spiffeId), { mode: 0o600 });
  writeFileSync(
    join(dir, 'sidecar.yaml'),
    [
      `spiffeId: ${spiffeId}`,
      `controlPlane: { address: "${context.pki.grpcAddress}", bundle: ${JSON.stringify(context.pki.bundlePath)} }`,
      'joinToken: { file: token }',
      `keyType: ${context.pki.keyType}`,
      `resumption: ${resumption}`,
      `${side}:`,
      `  - ${listener}`,
      'admin: { listen: 127.0.0.1:0 }',
      // No trust refresh may land inside a measured window.
      'trustRefreshInterval: 1h',
      'log: { level: warn }',
      '',
    ].join('\n'),
  );
  return startNodeChild<TargetReady>(`${side} sidecar`, SIDECAR_CHILD, [join(dir, 'sidecar.yaml'), dir], {
    cpus: context.cpus,
    children: context.children,
  });
}

async function scrape(admin: { host: string; port: number } | undefined): Promise<string> {
  if (!admin) return '';
  const response = await fetch(`http://${admin.host}:${admin.port}/metrics`);
  return response.ok ? response.text() : '';
}

/**
 * Two Sigil sidecars: the client side's outbound listener (SVID for the load client's ID, `expect` the server's)
 * and the server side's inbound listener in front of the app, with every check (SVID, revocation, policy) on.
 * Resumed sessions are counted by the outbound sidecar's `sigil_tls_sessions_total`.
 */
function sigilPath(name: string, resumption: boolean): MeshPath {
  return {
    name,
    resumption,
    description: `two Sigil sidecars (outbound → inbound), resumption: ${resumption}`,
    async start(context) {
      const stoppers: (() => Promise<void>)[] = [];
      try {
        const inbound = await startSidecar(
          context,
          'inbound',
          SERVER_ID,
          resumption,
          `{ listen: 127.0.0.1:0, forward: "${context.app.host}:${context.app.port}" }`,
        );
        stoppers.push(() => inbound.stop());
        const outbound = await startSidecar(
          context,
          'outbound',
          CLIENT_ID,
          resumption,
          `{ listen: 127.0.0.1:0, upstream: "${inbound.ready.host}:${inbound.ready.port}", expect: ${SERVER_ID} }`,
        );
        stoppers.push(() => outbound.stop());
        const server = inbound.ready.credentials;
        const client = outbound.ready.credentials;
        return {
          address: { host: outbound.ready.host, port: outbound.ready.port },
          proxyPids: [outbound.pid, inbound.pid],
          sessions: async () => sessionsFromMetrics(await scrape(outbound.ready.admin), 'outbound'),
          ...(server && client ? { credentials: { server, client } } : {}),
          stop: () => stopAll(stoppers),
        };
      } catch (err) {
        await stopAll(stoppers);
        throw err;
      }
    },
  };
}

export const sigilResumptionPath = sigilPath('sigil-resumption', true);
export const sigilFullPath = sigilPath('sigil-no-resumption', false);
