// npm run demo [-- --keep | --stop | --no-nats | --state-dir DIR]: the hello topology as real processes, started
// with the same `sigil` commands a user types — NATS, control plane, two sidecars, two apps — and what each change
// costs, measured from the processes' own logs. See examples/hello/README.md.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { findNatsServer } from './demo/commands.ts';
import { cheatSheet } from './demo/cheat-sheet.ts';
import { formatSummary, type Measures } from './demo/measures.ts';
import { DemoProcesses, runningDemoProcesses, stopDemoProcesses } from './demo/processes.ts';
import { DemoShell, say } from './demo/shell.ts';
import { applyPolicy, deniedByDefault, revokeWeb, rotateCa, type Stage } from './demo/steps.ts';
import {
  API_ID,
  choosePorts,
  FALLBACK_REFRESH,
  startApp,
  startControlPlane,
  startNats,
  startSidecar,
  TRUST_DOMAIN,
  WEB_ID,
  type Ports,
} from './demo/topology.ts';

const step = (n: number, text: string) => say(`\n[${n}] ${text}`);

function webSidecarProxy(ports: Ports): string[] {
  return [
    'outbound:',
    `  - { listen: "127.0.0.1:${ports.webOutbound}", upstream: "127.0.0.1:${ports.apiInbound}", expect: ${API_ID} }`,
  ];
}

async function run(stateDir: string, options: { keep: boolean; nats: boolean }): Promise<void> {
  const natsBinary = options.nats ? findNatsServer() : undefined;
  mkdirSync(join(stateDir, 'logs'), { recursive: true, mode: 0o700 });
  mkdirSync(join(stateDir, 'tokens'), { mode: 0o700 });
  const passphrase = randomBytes(18).toString('base64url');
  writeFileSync(join(stateDir, 'ca-passphrase'), `${passphrase}\n`, { mode: 0o600 });
  // The caller's SIGIL_* settings must not change what the demo runs.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIGIL_')));
  Object.assign(env, { SIGIL_CA_PASSPHRASE: passphrase, SIGIL_DATA_DIR: join(stateDir, 'data') });
  const processes = new DemoProcesses(stateDir, env);
  const shell = new DemoShell(processes, env);
  const ports = await choosePorts();
  const nats = natsBinary !== undefined;
  const measures: Measures = { transport: nats ? 'NATS' : 'gRPC refresh', attestationMs: {} };

  say(`Sigil demo: every command runs in ${stateDir}`);
  say('with SIGIL_DATA_DIR=data and SIGIL_CA_PASSPHRASE from ./ca-passphrase; each process logs to logs/NAME.log');

  step(1, `a CA for trust domain ${TRUST_DOMAIN}`);
  await shell.sigil(['ca', 'init', '--trust-domain', TRUST_DOMAIN, '--data-dir', 'data']);

  step(2, 'the event channel');
  if (nats) await startNats(shell, natsBinary, ports);
  else if (options.nats)
    say(
      `    nats-server is not installed (apt-get install nats-server): showing the gRPC fallback, sidecars fetching the full state every ${FALLBACK_REFRESH} (60s by default)`,
    );
  else say(`    --no-nats: showing the gRPC fallback, sidecars fetching the full state every ${FALLBACK_REFRESH}`);

  step(3, 'the control plane: issuance, admin API, signed pushes');
  const cp = await startControlPlane(shell, ports, nats);

  step(4, 'the api app (plain HTTP) and its sidecar (mTLS in front of it)');
  await startApp(shell, 'api', { API_PORT: String(ports.api) });
  const api = await startSidecar(shell, {
    name: 'api',
    id: API_ID,
    ports,
    nats,
    admin: ports.apiAdmin,
    proxy: ['inbound:', `  - { listen: "127.0.0.1:${ports.apiInbound}", forward: "127.0.0.1:${ports.api}" }`],
  });
  measures.attestationMs.api = Number(api.attestation['duration_ms']);
  say(`    attested in ${measures.attestationMs.api} ms: SVID serial ${String(api.attestation['serial'])}`);

  step(5, 'the web sidecar (mTLS out, expecting the api identity) and the web app');
  const web = await startSidecar(shell, {
    name: 'web',
    id: WEB_ID,
    ports,
    nats,
    admin: ports.webAdmin,
    proxy: webSidecarProxy(ports),
  });
  measures.attestationMs.web = Number(web.attestation['duration_ms']);
  say(`    attested in ${measures.attestationMs.web} ms: SVID serial ${String(web.attestation['serial'])}`);
  await startApp(shell, 'web', { WEB_PORT: String(ports.web), API_VIA_PORT: String(ports.webOutbound) });

  const stage: Stage = { shell, ports, cp, api, web, measures, propagationTimeoutMs: 30_000 };
  step(6, 'web calls api: refused, since every destination is default deny');
  await deniedByDefault(stage);

  step(7, 'an allow-policy: web may call api');
  await applyPolicy(stage);

  step(8, 'CA rotation without a restart: prepare, activate, retire');
  await rotateCa(stage);

  step(9, `revoking ${WEB_ID} with a connection open`);
  await revokeWeb(stage);

  step(10, 'the inventory');
  await shell.sigil(['certs', 'list', '--kind', 'svid']);

  say(`\n${formatSummary(measures)}`);
  if (options.keep) {
    step(11, '--keep: web gets its identity back so the topology is whole again');
    await shell.sigil(['unrevoke', '--spiffe-id', WEB_ID]);
    await processes.stop(web.process);
    await startSidecar(shell, {
      name: 'web',
      id: WEB_ID,
      ports,
      nats,
      admin: ports.webAdmin,
      proxy: webSidecarProxy(ports),
    });
    say(`\n${cheatSheet({ stateDir, ports, nats })}`);
  }
  say('\ndemo finished: every step behaved as expected');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      keep: { type: 'boolean', default: false },
      stop: { type: 'boolean', default: false },
      'no-nats': { type: 'boolean', default: false },
      'state-dir': { type: 'string' },
    },
  });
  const stateDir = resolve(values['state-dir'] ?? join(tmpdir(), 'sigil-demo'));
  if (values.stop) {
    const stopped = await stopDemoProcesses(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
    say(
      stopped.length === 0
        ? `no demo process was running from ${stateDir}; removed it`
        : `stopped ${stopped.map((p) => `${p.name} (${p.pid})`).join(', ')}; removed ${stateDir}`,
    );
    return;
  }
  const running = runningDemoProcesses(stateDir);
  if (running.length > 0)
    throw new Error(
      `a demo is still running from ${stateDir} (${running.map((p) => p.name).join(', ')}): npm run demo -- --stop`,
    );
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  let ok = false;
  // Ctrl-C: the processes are in their own groups, so the terminal's signal does not reach them; stop them here.
  const interrupted = () =>
    void stopDemoProcesses(stateDir, 2_000).finally(() => {
      process.stderr.write(`\ninterrupted: the demo's processes are stopped; logs in ${join(stateDir, 'logs')}\n`);
      process.exit(130);
    });
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    await run(stateDir, { keep: values.keep, nats: !values['no-nats'] });
    ok = true;
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    if (!values.keep || !ok) {
      await stopDemoProcesses(stateDir);
      if (ok) rmSync(stateDir, { recursive: true, force: true });
      else say(`\nthe demo's processes are stopped; their logs are in ${join(stateDir, 'logs')}`);
    }
  }
}

main().then(
  () => {
    process.exitCode = 0;
  },
  (err: unknown) => {
    process.stderr.write(`demo failed: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
