import { mkdirSync, writeFileSync } from 'node:fs';
import { missingNodeFlags } from '../../cli/node-flags.ts';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcesses } from '../lib/child-processes.ts';
import type { SystemRequirement } from '../lib/system-packages.ts';
import { SERVER_ID, type BenchPki } from './bench-pki.ts';
import { startNodeChild } from './node-child.ts';
import type { CredentialFiles, TargetReady } from './protocol.ts';
import { startInFrontOfApp, type AppKind } from './upstream-app.ts';

const script = (name: string) => fileURLToPath(new URL(`./${name}`, import.meta.url));

/** What a target gets from the harness when it starts. */
export interface TargetContext {
  /** An empty scratch directory of its own. */
  readonly dir: string;
  readonly pki: BenchPki;
  readonly children: ChildProcesses;
  /** The server cores (`taskset -c`), undefined when not pinned. */
  readonly cpus: string | undefined;
  /** What the server (or the app behind it) does with a connection. */
  readonly app: AppKind;
  /**
   * The server SVID every target serves, so they are compared with the same certificate, key and bundle: the one
   * the first target that obtains its own (the sidecar) published, else one issued for SERVER_ID.
   */
  serverCredentials(): Promise<CredentialFiles>;
}

export interface RunningTarget {
  /** Where the load client connects: TLS 1.3 with client certificate, then the app's behaviour (one byte or echo). */
  readonly address: { readonly host: string; readonly port: number };
  /** The processes whose CPU is the server's cost per handshake. */
  readonly serverPids: readonly number[];
  /** Helpers measured apart from the server (the application behind a proxy). */
  readonly auxPids: readonly number[];
  /** An SVID this target obtained itself, offered to the targets started after it. */
  readonly credentials?: CredentialFiles;
  stop(): Promise<void>;
}

/**
 * A server under test. The harness starts every target once, measures them in turn with the same load client, and
 * stops them; the nginx and HAProxy baselines (baseline-targets.ts) are more entries of this shape.
 */
export interface HandshakeTarget {
  readonly name: string;
  readonly description: string;
  /** Programs from Debian packages the harness installs before starting anything (nginx, HAProxy). */
  readonly requirements?: readonly SystemRequirement[];
  /** Work before the deadline starts (building the Go proxy), after the requirements are installed. */
  readonly prepare?: (log: (line: string) => void) => void;
  start(context: TargetContext): Promise<RunningTarget>;
}

/** The Sigil sidecar's inbound listener, forwarding to a one-byte app in its own process on the server core. */
export const sigilSidecarTarget: HandshakeTarget = {
  name: 'sigil-sidecar',
  description: 'Sigil sidecar inbound listener (SVID check, revocation, policy) proxying to the app',
  start(context) {
    const { dir, pki, children, cpus } = context;
    return startInFrontOfApp(context, async (appPort) => {
      writeFileSync(join(dir, 'token'), await pki.createToken(SERVER_ID), { mode: 0o600 });
      writeFileSync(
        join(dir, 'sidecar.yaml'),
        [
          `spiffeId: ${SERVER_ID}`,
          `controlPlane: { address: "${pki.grpcAddress}", bundle: ${JSON.stringify(pki.bundlePath)} }`,
          'joinToken: { file: token }',
          `keyType: ${pki.keyType}`,
          'inbound:',
          `  - { listen: 127.0.0.1:0, forward: "127.0.0.1:${appPort}" }`,
          'admin: { listen: 127.0.0.1:0 }',
          // No trust refresh may land inside a measured window.
          'trustRefreshInterval: 1h',
          'log: { level: warn }',
          '',
        ].join('\n'),
      );
      const sidecar = await startNodeChild<TargetReady>(
        'sidecar',
        script('sidecar-target.ts'),
        [join(dir, 'sidecar.yaml'), dir],
        // With the V8 flags `sigil sidecar run` relaunches itself with (SIGIL_SIDECAR_NODE_FLAGS= measures without).
        { cpus, children, env: { ...process.env, NODE_OPTIONS: sidecarNodeOptions() } },
      );
      return {
        address: { host: sidecar.ready.host, port: sidecar.ready.port },
        serverPids: [sidecar.pid],
        ...(sidecar.ready.credentials ? { credentials: sidecar.ready.credentials } : {}),
        stop: () => sidecar.stop(),
      };
    });
  },
};

function sidecarNodeOptions(): string {
  const flags = missingNodeFlags(['sidecar', 'run'], process.execArgv, process.env);
  return [process.env['NODE_OPTIONS'] ?? '', ...flags].join(' ').trim();
}

/** A bare node:tls server with the same SVID, TLS 1.3, client certificate required, answering like the app itself. */
export const bareNodeTlsTarget: HandshakeTarget = {
  name: 'node-tls-bare',
  description: 'bare node:tls server, same SVID and bundle, requestCert + rejectUnauthorized, answering itself',
  async start(context) {
    const creds = await context.serverCredentials();
    const server = await startNodeChild<TargetReady>(
      'bare node:tls server',
      script('bare-tls-target.ts'),
      [creds.certChainPath, creds.keyPath, creds.bundlePath, context.app],
      { cpus: context.cpus, children: context.children },
    );
    return {
      address: { host: server.ready.host, port: server.ready.port },
      serverPids: [server.pid],
      auxPids: [],
      stop: () => server.stop(),
    };
  },
};

/** A plain Node TLS proxy to the same app: the sidecar minus everything Sigil adds (identity, revocation, policy...). */
export const nodeTlsProxyTarget: HandshakeTarget = {
  name: 'node-tls-proxy',
  description:
    'node:tls server, same SVID and bundle, client certificate verified, piping to the same app with no checks',
  async start(context) {
    const creds = await context.serverCredentials();
    return startInFrontOfApp(context, async (appPort) => {
      const server = await startNodeChild<TargetReady>(
        'node:tls proxy',
        script('node-proxy-target.ts'),
        [creds.certChainPath, creds.keyPath, creds.bundlePath, String(appPort)],
        { cpus: context.cpus, children: context.children },
      );
      return {
        address: { host: server.ready.host, port: server.ready.port },
        serverPids: [server.pid],
        stop: () => server.stop(),
      };
    });
  },
};

export const DEFAULT_TARGETS: readonly HandshakeTarget[] = [sigilSidecarTarget, bareNodeTlsTarget];

/** Creates each target's scratch directory under `root`. */
export function targetDir(root: string, target: HandshakeTarget): string {
  const dir = join(root, 'targets', target.name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}
