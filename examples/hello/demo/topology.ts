import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, REPO_ROOT } from './commands.ts';
import type { LogLine } from './log-file.ts';
import type { DemoProcess } from './processes.ts';
import { type DemoShell, say } from './shell.ts';

export const TRUST_DOMAIN = 'demo.sigil.local';
export const API_ID = `spiffe://${TRUST_DOMAIN}/ns/demo/sa/api`;
export const WEB_ID = `spiffe://${TRUST_DOMAIN}/ns/demo/sa/web`;
/** Without NATS the sidecars only learn changes by fetching the full state: every 60 s by default, 2 s here. */
export const FALLBACK_REFRESH = '2s';

export interface Ports {
  readonly nats: number;
  readonly grpc: number;
  readonly http: number;
  readonly api: number;
  readonly web: number;
  readonly apiInbound: number;
  readonly apiAdmin: number;
  readonly webOutbound: number;
  readonly webAdmin: number;
}

export async function choosePorts(): Promise<Ports> {
  const names = ['nats', 'grpc', 'http', 'api', 'web', 'apiInbound', 'apiAdmin', 'webOutbound', 'webAdmin'] as const;
  const ports: Record<string, number> = {};
  for (const name of names) ports[name] = await freePort();
  return ports as unknown as Ports;
}

export interface Sidecar {
  readonly id: string;
  readonly process: DemoProcess;
  readonly attestation: LogLine;
}

const waitMsg = (p: DemoProcess, msg: string, extra: (l: LogLine) => boolean = () => true) =>
  p.log.waitFor((l) => l.msg === msg && extra(l), `"${msg}" in ${p.name}'s log`, { alive: p.alive });

export function natsUrl(ports: Ports): string {
  return `nats://127.0.0.1:${ports.nats}`;
}

export async function startNats(shell: DemoShell, binary: string, ports: Ports): Promise<DemoProcess> {
  const nats = shell.startProgram('nats-server', {
    shown: `nats-server -a 127.0.0.1 -p ${ports.nats}`,
    file: binary,
    args: ['-a', '127.0.0.1', '-p', String(ports.nats)],
  });
  await nats.log.waitFor((l) => String(l.msg).includes('Server is ready'), 'nats-server to be ready', {
    alive: nats.alive,
  });
  return nats;
}

export async function startControlPlane(shell: DemoShell, ports: Ports, nats: boolean): Promise<DemoProcess> {
  const lines = [
    'dataDir: data',
    `listen: { grpc: "127.0.0.1:${ports.grpc}", http: "127.0.0.1:${ports.http}" }`,
    ...(nats ? [`nats: { servers: ["${natsUrl(ports)}"] }`] : []),
    // debug: the control plane logs when each request arrives, which the demo measures from.
    'log: { level: debug }',
  ];
  writeConfig(shell, 'cp.yaml', lines);
  const cp = shell.startSigil('control-plane', ['control-plane', 'run', '--config', 'cp.yaml']);
  await waitMsg(cp, 'control plane started');
  return cp;
}

function writeConfig(shell: DemoShell, name: string, lines: readonly string[]): void {
  writeFileSync(join(shell.stateDir, name), `${lines.join('\n')}\n`);
  say(`    ${name}:\n${lines.map((l) => `      ${l}`).join('\n')}`);
}

/** A join token into tokens/NAME.token (0600), then `sigil sidecar run` with a config that reads it. */
export async function startSidecar(
  shell: DemoShell,
  options: { name: string; id: string; ports: Ports; nats: boolean; proxy: readonly string[]; admin: number },
): Promise<Sidecar> {
  const tokenFile = `tokens/${options.name}.token`;
  const token = await shell.sigil(['token', 'create', '--spiffe-id', options.id, '--ttl', '10m'], {
    quiet: true,
    redirect: tokenFile,
  });
  writeFileSync(join(shell.stateDir, tokenFile), token.stdout, { mode: 0o600 });
  const config = `${options.name}-sidecar.yaml`;
  writeConfig(shell, config, [
    `spiffeId: ${options.id}`,
    `controlPlane: { address: "127.0.0.1:${options.ports.grpc}", bundle: data/bundle.pem }`,
    `joinToken: { file: ${tokenFile} }`,
    ...options.proxy,
    `admin: { listen: "127.0.0.1:${options.admin}" }`,
    ...(options.nats
      ? [`nats: { servers: ["${natsUrl(options.ports)}"] }`]
      : [`trustRefreshInterval: ${FALLBACK_REFRESH}`]),
  ]);
  const process = shell.startSigil(`${options.name}-sidecar`, ['sidecar', 'run', '--config', config]);
  const attestation = await waitMsg(process, 'SVID obtained by attestation');
  await waitMsg(process, 'sidecar started');
  return { id: options.id, process, attestation };
}

export async function startApp(
  shell: DemoShell,
  name: 'api' | 'web',
  env: Record<string, string>,
): Promise<DemoProcess> {
  const script = `examples/hello/${name}.ts`;
  const app = shell.startProgram(name, {
    shown: `node ${join(REPO_ROOT, script)}`,
    file: process.execPath,
    args: [join(REPO_ROOT, script)],
    env,
  });
  await app.log.waitFor((l) => String(l.msg).startsWith(`${name} listening`), `the ${name} app to listen`, {
    alive: app.alive,
  });
  return app;
}
