// Issue 18: what a Sigil process costs in memory and start-up, measured on the compiled build (what the Docker image
// and `npx sigil` run): a bare Node process idling (the reference), the control plane idle, a sidecar idle and with
// N idle mTLS connections (each with its upstream leg to the app), a sidecar with NATS configured idle (it runs the
// event verifier thread), nginx and HAProxy holding the same connections, start-up to ready, and CLI wall times
// against `node -e 0`. Writes bench/results/footprint.{json,md} and the table in docs/benchmarks.md.
// Then a soak: new connections with round trips through a sidecar for `--soak` (default 1m; `--soak 10m` for the
// published figure), sampling RSS and post-GC heap, to show no growth; `--only soak` runs just that part.
// Run: `npm run bench -- footprint [--connections 1000] [--cli-runs 5] [--settle 2] [--soak 1m] [--only soak]
//       [--out-dir bench/results]`.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { staleReason } from '../cli/launcher/build-freshness.js';
import { build } from '../cli/launcher/build.ts';
import { startExternalServer } from './handshake/external-server.ts';
import { haproxyConfig } from './handshake/haproxy-config.ts';
import { nginxConfig, streamModuleKind } from './handshake/nginx-config.ts';
import { HAPROXY_REQUIREMENT, NGINX_REQUIREMENT } from './handshake/baseline-targets.ts';
import { runBenchMain, writeResultJson } from './lib/bench-main.ts';
import { ChildProcesses } from './lib/child-processes.ts';
import { freeLoopbackPort } from './lib/free-port.ts';
import { startBenchNatsServer } from './lib/nats-server.ts';
import { commitOf, positive } from './lib/run-info.ts';
import { ensureSystemPackages } from './lib/system-packages.ts';
import { footprintTable, type CliTiming, type FootprintResult } from './footprint/footprint-report.ts';
import { openIdleConnections, type ClientCredentials } from './footprint/idle-connections.ts';
import { HEAP_PROBE, rssOfAll, sampleNode, type MemorySample } from './footprint/process-memory.ts';
import { startSigilProcess, type SigilProcess } from './footprint/sigil-process.ts';
import { runSoak, soakTable, type SoakResult } from './footprint/soak.ts';
import { parseDuration } from '../common/duration.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
const CLI = join(DIST, 'cli', 'sigil.js');
const TD = 'footprint.example';
const APP_ID = `spiffe://${TD}/ns/bench/sa/app`;
const ADMIN_ID = `spiffe://${TD}/sigil/admin/default`;
const ENV = { SIGIL_CA_PASSPHRASE: 'footprint bench passphrase, temporary CA' };
const DOCS_START = '<!-- footprint:start -->';
const DOCS_END = '<!-- footprint:end -->';
const SOAK_DOCS = ['<!-- footprint-soak:start -->', '<!-- footprint-soak:end -->'] as const;

interface FootprintOptions {
  readonly connections: number;
  readonly cliRuns: number;
  readonly settleMs: number;
  readonly outDir: string;
  readonly soakMs: number;
  /** Only the soak (control plane, one sidecar, the load), without the idle figures, baselines and CLI times. */
  readonly soakOnly: boolean;
}

function optionsFromArgs(args: readonly string[]): FootprintOptions {
  const { values } = parseArgs({
    args: [...args],
    options: {
      connections: { type: 'string', default: '1000' },
      'cli-runs': { type: 'string', default: '5' },
      settle: { type: 'string', default: '2' },
      'out-dir': { type: 'string', default: join(ROOT, 'bench', 'results') },
      soak: { type: 'string', default: '1m' },
      only: { type: 'string' },
    },
  });
  if (values.only !== undefined && values.only !== 'soak')
    throw new Error(`--only ${values.only}: the one part that runs alone is "soak"`);
  return {
    connections: positive('--connections', Number(values.connections)),
    cliRuns: positive('--cli-runs', Number(values['cli-runs'])),
    settleMs: Number(values.settle) * 1000,
    outDir: values['out-dir'],
    soakMs: values.soak === '0' ? 0 : parseDuration(values.soak),
    soakOnly: values.only === 'soak',
  };
}

const log = (line: string) => process.stderr.write(`${line}\n`);

function sigilSync(args: readonly string[], cwd: string): string {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    env: { ...process.env, ...ENV },
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`sigil ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

function wallMs(argv: readonly string[], cwd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [...argv], { cwd, env: { ...process.env, ...ENV }, stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(performance.now() - started) : reject(new Error(`${argv.join(' ')} exited ${code}`)),
    );
  });
}

async function timeCli(command: string, argv: readonly string[], cwd: string, runs: number): Promise<CliTiming> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await wallMs(argv, cwd));
  times.sort((a, b) => a - b);
  return { command, medianMs: times[Math.floor(times.length / 2)] ?? 0, runs };
}

function echoApp(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.on('error', () => {}).pipe(socket));
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address ? address.port : 0 });
    }),
  );
}

async function bareNode(dir: string, children: ChildProcesses, settleMs: number): Promise<MemorySample> {
  const probeFile = join(dir, 'bare.heap.json');
  const child = children.track(
    spawn(process.execPath, ['--import', HEAP_PROBE, '-e', 'setInterval(() => {}, 1 << 30)'], {
      env: { ...process.env, SIGIL_HEAP_PROBE_FILE: probeFile },
      stdio: 'ignore',
    }),
  );
  await sleep(Math.max(settleMs, 500));
  const sample = await sampleNode(child.pid ?? 0, probeFile);
  child.kill('SIGTERM');
  return sample;
}

/** nginx or HAProxy in front of the same app with the admin SVID, RSS idle and with the same connections. */
async function baseline(
  name: 'nginx' | 'haproxy',
  setup: { dir: string; appPort: number; creds: ClientCredentials; data: string; connections: number },
  commands: Map<string, string>,
  children: ChildProcesses,
  settleMs: number,
): Promise<{ idle: MemorySample; withConnections: MemorySample }> {
  const command = commands.get(name) ?? name;
  const dir = mkdtempSync(join(setup.dir, `${name}-`));
  const listenPort = await freeLoopbackPort();
  const certChainPath = join(setup.data, 'admin', 'svid.pem');
  const keyPath = join(setup.data, 'admin', 'key.pem');
  const bundlePath = join(setup.data, 'bundle.pem');
  let argv: string[];
  if (name === 'nginx') {
    const version = spawnSync(command, ['-V'], { encoding: 'utf8' });
    const dynamic = streamModuleKind(`${version.stdout}${version.stderr}`) === 'dynamic';
    const modulePath = ['/usr/lib/nginx/modules', '/usr/share/nginx/modules']
      .map((d) => join(d, 'ngx_stream_module.so'))
      .find((p) => spawnSync('test', ['-f', p]).status === 0);
    const config = join(dir, 'nginx.conf');
    writeFileSync(
      config,
      nginxConfig({
        dir,
        listenPort,
        upstreamPort: setup.appPort,
        certChainPath,
        keyPath,
        bundlePath,
        streamModulePath: dynamic ? modulePath : undefined,
      }),
    );
    argv = [command, '-p', dir, '-c', config, '-e', join(dir, 'error.log')];
  } else {
    const certAndKeyPath = join(dir, 'svid-and-key.pem');
    writeFileSync(certAndKeyPath, `${readFileSync(certChainPath, 'utf8')}${readFileSync(keyPath, 'utf8')}`, {
      mode: 0o600,
    });
    const config = join(dir, 'haproxy.cfg');
    writeFileSync(config, haproxyConfig({ dir, listenPort, upstreamPort: setup.appPort, certAndKeyPath, bundlePath }));
    argv = [command, '-db', '-f', config];
  }
  const server = await startExternalServer(name, argv, { port: listenPort, cpus: undefined, children });
  try {
    await sleep(settleMs);
    const idle = { rssBytes: rssOfAll(server.pids()) };
    const connections = await openIdleConnections(listenPort, setup.connections, setup.creds);
    await sleep(settleMs);
    const withConnections = { rssBytes: rssOfAll(server.pids()) };
    await connections.close();
    return { idle, withConnections };
  } finally {
    await server.stop();
  }
}

/** `sigil sidecar run` and `control-plane run` relaunch with V8 flags (cli/node-flags.ts); this turns that off. */
const WITHOUT_NODE_FLAGS = { SIGIL_SIDECAR_NODE_FLAGS: '', SIGIL_CONTROL_PLANE_NODE_FLAGS: '' };

interface SidecarSetup {
  readonly dir: string;
  readonly data: string;
  readonly grpc: string;
  readonly appPort: number;
  readonly creds: ClientCredentials;
  readonly children: ChildProcesses;
  readonly options: FootprintOptions;
}

/** A sidecar from the build with one inbound listener (and the admin endpoint), started with its own join token. */
async function startSidecar(
  setup: SidecarSetup,
  name: string,
  nodeFlags: readonly string[],
  env: Record<string, string> = {},
  extraConfig: readonly string[] = [],
): Promise<SigilProcess> {
  const { dir, data } = setup;
  const token = JSON.parse(sigilSync(['token', 'create', '--data-dir', data, '--spiffe-id', APP_ID, '--json'], dir));
  writeFileSync(join(dir, `${name}.token`), (token as { token: string }).token, { mode: 0o600 });
  writeFileSync(
    join(dir, `${name}.yaml`),
    [
      `spiffeId: ${APP_ID}`,
      `controlPlane: { address: "${setup.grpc}", bundle: ./data/bundle.pem }`,
      `joinToken: { file: ./${name}.token }`,
      `inbound:\n  - { listen: 127.0.0.1:0, forward: 127.0.0.1:${setup.appPort} }`,
      'admin: { listen: 127.0.0.1:0 }',
      ...extraConfig,
      '',
    ].join('\n'),
  );
  log(`footprint: sidecar (${name})`);
  return startSigilProcess(CLI, ['sidecar', 'run', '--config', join(dir, `${name}.yaml`)], {
    readyMessage: 'sidecar started',
    cwd: dir,
    env: { ...ENV, ...env },
    probeFile: join(dir, `${name}.heap.json`),
    children: setup.children,
    nodeFlags,
  });
}

const inboundPort = (sidecar: SigilProcess) =>
  Number(
    String((sidecar.started['inbound'] as string[])[0])
      .split(':')
      .pop(),
  );

/** Start-up, idle, then holding N idle mTLS connections. */
async function measureSidecar(
  setup: SidecarSetup,
  name: string,
  env: Record<string, string>,
): Promise<FootprintResult['sidecar']> {
  const { options } = setup;
  const sidecar = await startSidecar(setup, name, [], env);
  try {
    await sleep(options.settleMs);
    const idle = await sampleNode(sidecar.pid, sidecar.probeFile);
    log(`footprint: ${options.connections} connections to the sidecar (${name})`);
    const held = await openIdleConnections(inboundPort(sidecar), options.connections, setup.creds);
    await sleep(options.settleMs);
    const withConnections = await sampleNode(sidecar.pid, sidecar.probeFile);
    await held.close();
    return { readyMs: sidecar.readyMs, idle, withConnections };
  } finally {
    await sidecar.stop();
  }
}

/**
 * A sidecar subscribed to a private nats-server, idle: it runs the event verifier thread (sidecar/trust), whose own
 * V8 isolate and modules are the price of verifying a flood of events off the connection path.
 */
async function measureSidecarWithNats(setup: SidecarSetup): Promise<FootprintResult['sidecarWithNats']> {
  const nats = await startBenchNatsServer((c) => setup.children.track(c));
  try {
    const sidecar = await startSidecar(setup, 'with-nats', [], {}, [`nats: { servers: ["${nats.url}"] }`]);
    try {
      await sleep(setup.options.settleMs);
      return { readyMs: sidecar.readyMs, idle: await sampleNode(sidecar.pid, sidecar.probeFile) };
    } finally {
      await sidecar.stop();
    }
  } finally {
    await nats.stop();
  }
}

/** Load through a sidecar for `soakMs` (with --expose-gc, so that the heap probe samples live heap). */
async function soakSidecar(setup: SidecarSetup): Promise<SoakResult> {
  const sidecar = await startSidecar(setup, 'soak', ['--expose-gc']);
  try {
    const { soakMs } = setup.options;
    log(`footprint: soak for ${Math.round(soakMs / 1000)} s`);
    return await runSoak({
      port: inboundPort(sidecar),
      creds: setup.creds,
      pid: sidecar.pid,
      probeFile: sidecar.probeFile,
      durationMs: soakMs,
      sampleEveryMs: Math.min(10_000, Math.max(1_000, soakMs / 30)),
      workers: 8,
      requestsPerConnection: 20,
    });
  } finally {
    await sidecar.stop();
  }
}

function ensureBuild(): void {
  const reason = staleReason(DIST);
  if (reason === undefined) return;
  log(`footprint: building dist/ first (${reason})`);
  build({ root: ROOT });
}

/** What one run measured: the idle/connections/CLI figures (unless `--only soak`) and the soak. */
export interface FootprintRun {
  readonly footprint: FootprintResult | undefined;
  readonly soak: (SoakResult & { readonly date: string; readonly commit: string; readonly node: string }) | undefined;
}

export async function runFootprint(options: FootprintOptions): Promise<FootprintRun> {
  ensureBuild();
  const commands = options.soakOnly
    ? new Map<string, string>()
    : ensureSystemPackages([NGINX_REQUIREMENT, HAPROXY_REQUIREMENT], log);
  const dir = mkdtempSync(join(tmpdir(), 'sigil-footprint-'));
  const children = new ChildProcesses();
  const app = await echoApp();
  const stops: (() => Promise<void>)[] = [];
  try {
    const data = join(dir, 'data');
    if (!options.soakOnly) log('footprint: bare Node reference');
    const bare = options.soakOnly ? undefined : await bareNode(dir, children, options.settleMs);
    sigilSync(['ca', 'init', '--trust-domain', TD, '--data-dir', data], dir);
    writeFileSync(join(dir, 'cp.yaml'), 'dataDir: ./data\nlisten: { grpc: 127.0.0.1:0, http: 127.0.0.1:0 }\n');
    const startCp = (name: string, env: Record<string, string>) =>
      startSigilProcess(CLI, ['control-plane', 'run', '--config', join(dir, 'cp.yaml')], {
        readyMessage: 'control plane started',
        cwd: dir,
        env: { ...ENV, ...env },
        probeFile: join(dir, `${name}.heap.json`),
        children,
      });
    // First the control plane as it would run without the launcher's V8 flags, idle, then the one the sidecars use.
    let cpWithoutFlags: FootprintResult['controlPlane'] | undefined;
    if (!options.soakOnly) {
      log('footprint: control plane without V8 flags');
      const plain = await startCp('cp-without-flags', WITHOUT_NODE_FLAGS);
      await sleep(options.settleMs);
      cpWithoutFlags = { readyMs: plain.readyMs, idle: await sampleNode(plain.pid, plain.probeFile) };
      await plain.stop();
    }
    log('footprint: control plane');
    const cp = await startCp('cp', {});
    stops.push(cp.stop);
    await sleep(options.settleMs);
    const cpIdle = await sampleNode(cp.pid, cp.probeFile);

    writeFileSync(
      join(dir, 'policy.yaml'),
      `apiVersion: sigil.dev/v1\nkind: AllowPolicy\nmetadata: { name: admin-to-app }\nspec:\n  destination: ${APP_ID}\n  allow:\n    - from: ${ADMIN_ID}\n`,
    );
    sigilSync(['policy', 'apply', '--data-dir', data, '-f', join(dir, 'policy.yaml')], dir);
    const creds: ClientCredentials = {
      cert: readFileSync(join(data, 'admin', 'svid.pem')),
      key: readFileSync(join(data, 'admin', 'key.pem')),
      ca: readFileSync(join(data, 'bundle.pem')),
    };
    const sidecarSetup = { dir, data, grpc: String(cp.started['grpc']), appPort: app.port, creds, children, options };
    const soakResult = options.soakMs > 0 ? await soakSidecar(sidecarSetup) : undefined;
    const soak = soakResult && {
      date: new Date().toISOString(),
      commit: commitOf(),
      node: process.version,
      ...soakResult,
    };
    if (bare === undefined || cpWithoutFlags === undefined) return { footprint: undefined, soak };
    const sidecar = await measureSidecar(sidecarSetup, 'default', {});
    const sidecarWithoutFlags = await measureSidecar(sidecarSetup, 'without-flags', WITHOUT_NODE_FLAGS);
    log('footprint: sidecar with NATS (event verifier thread)');
    const sidecarWithNats = await measureSidecarWithNats(sidecarSetup);

    const baselines: FootprintResult['baselines'] = {};
    for (const name of ['nginx', 'haproxy'] as const) {
      log(`footprint: ${name} with ${options.connections} connections`);
      baselines[name] = await baseline(
        name,
        { dir, appPort: app.port, creds, data, connections: options.connections },
        commands,
        children,
        options.settleMs,
      );
    }

    log('footprint: CLI wall times');
    const launcher = join(ROOT, 'cli', 'launcher', 'sigil.js');
    const cli = [
      await timeCli('node -e 0', ['-e', '0'], dir, options.cliRuns),
      await timeCli('sigil --help (launcher, as npx runs it)', [launcher, '--help'], dir, options.cliRuns),
      await timeCli('node dist/cli/sigil.js --help', [CLI, '--help'], dir, options.cliRuns),
      await timeCli(
        'sigil certs list (launcher)',
        [launcher, 'certs', 'list', '--data-dir', data],
        dir,
        options.cliRuns,
      ),
      await timeCli(
        'node cli/sigil.ts --help (sources)',
        [join(ROOT, 'cli', 'sigil.ts'), '--help'],
        dir,
        options.cliRuns,
      ),
    ];
    const footprint: FootprintResult = {
      benchmark: 'footprint',
      date: new Date().toISOString(),
      commit: commitOf(),
      node: process.version,
      connections: options.connections,
      bareNode: bare,
      controlPlane: { readyMs: cp.readyMs, idle: cpIdle },
      controlPlaneWithoutNodeFlags: cpWithoutFlags,
      sidecar,
      sidecarWithoutNodeFlags: sidecarWithoutFlags,
      sidecarWithNats,
      baselines,
      cli,
    };
    return { footprint, soak };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    children.dispose();
    app.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Replaces one section of docs/benchmarks.md (between its markers) with this run's table. */
function updateDocs(
  markers: readonly [string, string],
  table: string,
  result: { date: string; commit: string; node: string },
): void {
  const path = join(ROOT, 'docs', 'benchmarks.md');
  const text = readFileSync(path, 'utf8');
  const [startMarker, endMarker] = markers;
  const start = text.indexOf(startMarker);
  const end = text.indexOf(endMarker);
  if (start === -1 || end < start) return;
  const section = `${startMarker}\nRun ${result.date.slice(0, 16)} UTC, commit ${result.commit.slice(0, 7)}, Node ${result.node}:\n\n${table}\n`;
  writeFileSync(path, `${text.slice(0, start)}${section}${text.slice(end)}`);
  // The project's formatter aligns Markdown tables; without it the next `npm run lint` would fail on this file.
  const biome = createRequire(import.meta.url).resolve('@biomejs/biome/bin/biome');
  spawnSync(process.execPath, [biome, 'format', '--write', path], { cwd: ROOT, stdio: 'ignore' });
}

async function main(): Promise<void> {
  const options = optionsFromArgs(process.argv.slice(2));
  const { footprint, soak } = await runFootprint(options);
  if (footprint) {
    const table = footprintTable(footprint);
    writeResultJson(join(options.outDir, 'footprint.json'), footprint);
    writeFileSync(join(options.outDir, 'footprint.md'), `${table}\n`);
    updateDocs([DOCS_START, DOCS_END], table, footprint);
    process.stdout.write(`${table}\n`);
  }
  if (soak) {
    const table = `Soak: ${Math.round(soak.durationMs / 1000)} s of load, ${soak.workers} clients each opening a connection, ${soak.requestsPerConnection} round trips of 1 KiB, closing, in a loop.\n\n${soakTable(soak)}`;
    writeResultJson(join(options.outDir, 'footprint-soak.json'), soak);
    writeFileSync(join(options.outDir, 'footprint-soak.md'), `${table}\n`);
    updateDocs(SOAK_DOCS, table, soak);
    process.stdout.write(`${table}\n`);
  }
}

if (import.meta.main) runBenchMain('footprint', main);
