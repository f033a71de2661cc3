// The mesh path (issue 23): a load client sends plain TCP through an outbound proxy, which originates mTLS to an
// inbound proxy, which forwards to an echo app, for three kinds of pair with the same SVIDs: two Sigil sidecars
// (resumption on and off), two Go crypto/tls proxies (client session cache on and off) and two nginx (session reuse
// on and off). Measures both proxies' CPU together per new connection (one byte echoed, then closed) and per
// keep-alive request, and the share of sessions between the proxies that resumed. Both proxies and the app are pinned
// to core 0 (the app's CPU counted apart), the Go load client to the others; CPU is read from /proc.
// Run: `npm run bench -- mesh [--seconds 2] [--warmup 1] [--runs 3] [--concurrency 16] [--key-type ec-p256|rsa-2048]
//       [--paths ...] [--loads connections,requests] [--baseline nginx-session-reuse] [--json PATH]
//       [--deadline-seconds N]`.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ErrorCode, SigilError } from '../common/errors.ts';
import { parseKeyType, type KeyType } from '../common/key-type.ts';
import { SERVER_ID, startBenchPki, type BenchPki } from './handshake/bench-pki.ts';
import { detectPinning } from './handshake/cpu-pinning.ts';
import { GoLoadClient } from './handshake/go-load-client.ts';
import { snapshotWindow, summarizeFigures } from './handshake/measure-window.ts';
import type { NodeChild } from './handshake/node-child.ts';
import type { TargetReady } from './handshake/protocol.ts';
import { startUpstreamApp } from './handshake/upstream-app.ts';
import { runBenchMain, writeResultJson } from './lib/bench-main.ts';
import { withDeadline, type ChildProcesses } from './lib/child-processes.ts';
import { goLoadClientBinary } from './lib/go-client-build.ts';
import { machineInfo, positive } from './lib/run-info.ts';
import { ensureSystemPackages } from './lib/system-packages.ts';
import type { MeshCredentials, MeshPath, RunningPath } from './mesh/mesh-path.ts';
import { MESH_BASELINE, MESH_PATHS, selectMeshPaths } from './mesh/mesh-registry.ts';
import {
  MESH_LOADS,
  computeMeshRatios,
  meshFiguresOf,
  meshNotes,
  meshTable,
  type MeshBenchResult,
  type MeshCaseResult,
  type MeshLoad,
  type MeshSample,
} from './mesh/mesh-results.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_MESH_JSON = join(ROOT, 'bench', 'results', 'mesh.json');
const SETUP_ALLOWANCE_MS = 90_000;
const INTERVAL_MS = 200;
const PROBE_MS = 500;
/** Probe windows tried before a path counts as refusing: on a loaded machine a first window can pass empty. */
const PROBE_ATTEMPTS = 4;
const REQUEST_BYTES = 64;

export interface MeshBenchOptions {
  readonly windowSeconds?: number;
  readonly warmupSeconds?: number;
  readonly runs?: number;
  /** Connections the client keeps in flight, for both loads. Default 16. */
  readonly concurrency?: number;
  readonly keyType?: KeyType;
  readonly paths?: readonly MeshPath[];
  /** The loads to measure, default both: `connections` alone gives more runs of the new-connection path per minute. */
  readonly loads?: readonly MeshLoad[];
  readonly baseline?: string;
  readonly deadlineMs?: number;
  readonly log?: (line: string) => void;
}

interface Settings {
  readonly windowSeconds: number;
  readonly warmupSeconds: number;
  readonly runs: number;
  readonly concurrency: number;
  readonly keyType: KeyType;
  readonly paths: readonly MeshPath[];
  readonly loads: readonly MeshLoad[];
  readonly baseline: string;
  readonly deadlineMs: number;
  readonly log: (line: string) => void;
}

function resolveSettings(options: MeshBenchOptions): Settings {
  const windowSeconds = positive('--seconds', options.windowSeconds ?? 2);
  const warmupSeconds = options.warmupSeconds ?? 1;
  const runs = Math.floor(positive('--runs', options.runs ?? 3));
  const paths = options.paths ?? MESH_PATHS;
  const loads = options.loads ?? MESH_LOADS;
  const plannedMs = runs * loads.length * paths.length * (warmupSeconds + windowSeconds + 1) * 1000;
  return {
    windowSeconds,
    warmupSeconds,
    runs,
    concurrency: Math.floor(positive('--concurrency', options.concurrency ?? 16)),
    keyType: options.keyType ?? 'ec-p256',
    paths,
    loads,
    baseline: options.baseline ?? MESH_BASELINE,
    deadlineMs: options.deadlineMs ?? plannedMs + SETUP_ALLOWANCE_MS,
    log: options.log ?? (() => undefined),
  };
}

async function begin(client: GoLoadClient, path: RunningPath, load: MeshLoad, concurrency: number): Promise<void> {
  if (load === 'connections') await client.beginPlainConnections(path.address, concurrency);
  else await client.beginRequests(path.address, { concurrency, requestBytes: REQUEST_BYTES, plaintext: true });
}

/** One window through one path: client counts, both proxies' sessions and everyone's CPU at the same instants. */
async function measureMeshWindow(
  client: GoLoadClient,
  path: RunningPath,
  appPid: number,
  load: MeshLoad,
  timing: { concurrency: number; warmupMs: number; windowMs: number },
): Promise<MeshSample> {
  await begin(client, path, load, timing.concurrency);
  try {
    const probe = {
      snapshot: async () => ({ counts: await client.snapshot(), sessions: await path.sessions() }),
      cpuMs: () => client.cpuMs(),
    };
    const pids = {
      get serverPids() {
        return path.proxyPids;
      },
      auxPids: [appPid],
    };
    const w = await snapshotWindow(probe, pids, timing);
    const failed: Record<string, number> = {};
    for (const [code, n] of Object.entries(w.after.counts.failed))
      failed[code] = n - (w.before.counts.failed[code] ?? 0);
    const operations =
      load === 'connections'
        ? w.after.counts.handshakes - w.before.counts.handshakes
        : w.after.counts.requests - w.before.counts.requests;
    return {
      seconds: w.seconds,
      operations,
      failed: Object.fromEntries(Object.entries(failed).filter(([, n]) => n > 0)),
      proxyCpuMs: w.serverCpuMs,
      appCpuMs: w.auxCpuMs,
      clientCpuMs: w.clientCpuMs,
      sessions: w.after.sessions.handshakes - w.before.sessions.handshakes,
      resumed: w.after.sessions.resumed - w.before.sessions.resumed,
    };
  } finally {
    await client.end();
  }
}

/** Every run of every path and load, interleaved so a drift of the machine touches every path alike. */
async function measureRuns(
  settings: Settings,
  client: GoLoadClient,
  running: readonly RunningPath[],
  appPid: number,
): Promise<MeshCaseResult[]> {
  const samples = new Map<string, MeshSample[]>();
  for (let run = 1; run <= settings.runs; run++) {
    for (const load of settings.loads) {
      for (const [i, path] of settings.paths.entries()) {
        const sample = await measureMeshWindow(client, running[i] as RunningPath, appPid, load, {
          concurrency: settings.concurrency,
          warmupMs: settings.warmupSeconds * 1000,
          windowMs: settings.windowSeconds * 1000,
        });
        const key = `${path.name}|${load}`;
        samples.set(key, [...(samples.get(key) ?? []), sample]);
        const f = meshFiguresOf(sample);
        settings.log(
          `run ${run}/${settings.runs} ${path.name} ${load}: ${f.operationsPerSecond}/s, ${f.proxyCpuUsPerOperation} proxy µs each, resumed ${Number.isFinite(f.resumedShare) ? (f.resumedShare * 100).toFixed(1) : '–'} %`,
        );
        await sleep(INTERVAL_MS);
      }
    }
  }
  return settings.paths.flatMap((path) =>
    settings.loads.map((load) => {
      const runs = samples.get(`${path.name}|${load}`) ?? [];
      return { path: path.name, load, runs, ...summarizeFigures(runs.map(meshFiguresOf)) };
    }),
  );
}

/** A short burst of new connections through every path, so a pair that refuses its peer fails the run at once. */
async function probe(client: GoLoadClient, settings: Settings, running: readonly RunningPath[], appPid: number) {
  const timing = { concurrency: settings.concurrency, warmupMs: 0, windowMs: PROBE_MS };
  for (const [i, path] of settings.paths.entries()) {
    let sample = await measureMeshWindow(client, running[i] as RunningPath, appPid, 'connections', timing);
    for (let attempt = 1; attempt < PROBE_ATTEMPTS && sample.operations === 0; attempt++)
      sample = await measureMeshWindow(client, running[i] as RunningPath, appPid, 'connections', timing);
    if (sample.operations === 0)
      throw new SigilError(
        ErrorCode.UNAVAILABLE,
        `no connection went through ${path.name} (failures: ${JSON.stringify(sample.failed)}); its proxies' logs are above`,
      );
  }
}

async function startPaths(
  settings: Settings,
  setup: { dir: string; pki: BenchPki; app: { host: string; port: number }; cpus: string | undefined },
  children: ChildProcesses,
  running: RunningPath[],
): Promise<void> {
  let published: MeshCredentials | undefined;
  let issued: Promise<MeshCredentials> | undefined;
  const issue = async (): Promise<MeshCredentials> => ({
    server: await setup.pki.issue(SERVER_ID, join(setup.dir, 'server')),
    client: setup.pki.client,
  });
  for (const path of settings.paths) {
    const dir = join(setup.dir, 'paths', path.name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const started = await path.start({
      dir,
      pki: setup.pki,
      children,
      cpus: setup.cpus,
      app: setup.app,
      credentials: () => (published ? Promise.resolve(published) : (issued ??= issue())),
    });
    running.push(started);
    published ??= started.credentials;
  }
}

async function measureAll(
  settings: Settings,
  dir: string,
  goBinary: string,
  children: ChildProcesses,
): Promise<MeshBenchResult> {
  const pinning = detectPinning();
  let pki: BenchPki | undefined;
  let app: NodeChild<TargetReady> | undefined;
  const running: RunningPath[] = [];
  let client: GoLoadClient | undefined;
  try {
    settings.log(
      `setting up: ${settings.keyType} CA and control plane, an echo app, ${settings.paths.map((p) => p.name).join(', ')}; ${pinning.note}`,
    );
    pki = await startBenchPki(dir, settings.keyType);
    app = await startUpstreamApp('echo', { cpus: pinning.serverCpus, children });
    const appAddress = { host: app.ready.host, port: app.ready.port };
    await startPaths(settings, { dir, pki, app: appAddress, cpus: pinning.serverCpus }, children, running);
    client = await GoLoadClient.start(
      { binary: goBinary, credentials: pki.client, concurrency: settings.concurrency, cpus: pinning.clientCpus },
      children,
    );
    await probe(client, settings, running, app.pid);
    const results = await measureRuns(settings, client, running, app.pid);
    return {
      benchmark: 'mesh',
      date: new Date().toISOString(),
      ...machineInfo(),
      pinning: pinning.note,
      keyType: settings.keyType,
      settings: {
        windowSeconds: settings.windowSeconds,
        warmupSeconds: settings.warmupSeconds,
        runs: settings.runs,
        concurrency: settings.concurrency,
      },
      targets: settings.paths.map((p) => ({ name: p.name, description: p.description })),
      baseline: settings.baseline,
      results,
      ratios: computeMeshRatios(results, settings.baseline),
      notes: meshNotes(
        results,
        settings.paths.filter((p) => p.resumption).map((p) => p.name),
      ),
    };
  } finally {
    await client?.close().catch(() => undefined);
    for (const p of running.reverse()) await p.stop().catch(() => undefined);
    await app?.stop().catch(() => undefined);
    await pki?.stop().catch(() => undefined);
  }
}

/** Sets up the CA, the app, every pair and the load client, measures, and tears it all down; bounded by the deadline. */
export async function runMeshBench(options: MeshBenchOptions = {}): Promise<MeshBenchResult> {
  const settings = resolveSettings(options);
  ensureSystemPackages(
    settings.paths.flatMap((p) => p.requirements ?? []),
    settings.log,
  );
  for (const path of settings.paths) path.prepare?.(settings.log);
  const goBinary = goLoadClientBinary(settings.log);
  // Holds the temporary CA's and SVIDs' keys: removed on every exit path.
  const dir = mkdtempSync(join(tmpdir(), 'sigil-bench-mesh-'));
  try {
    return await withDeadline('bench/mesh', settings.deadlineMs, (children) =>
      measureAll(settings, dir, goBinary, children),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function meshOptionsFromArgs(args: readonly string[]): MeshBenchOptions & { json: string } {
  const { values } = parseArgs({
    args: [...args],
    options: {
      seconds: { type: 'string', default: '2' },
      warmup: { type: 'string', default: '1' },
      runs: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '16' },
      'key-type': { type: 'string', default: 'ec-p256' },
      paths: { type: 'string', default: MESH_PATHS.map((p) => p.name).join(',') },
      loads: { type: 'string', default: MESH_LOADS.join(',') },
      baseline: { type: 'string', default: MESH_BASELINE },
      json: { type: 'string', default: DEFAULT_MESH_JSON },
      'deadline-seconds': { type: 'string' },
    },
  });
  return {
    windowSeconds: Number(values.seconds),
    warmupSeconds: Number(values.warmup),
    runs: Number(values.runs),
    concurrency: Number(values.concurrency),
    keyType: parseKeyType(values['key-type']),
    paths: selectMeshPaths(values.paths),
    loads: selectMeshLoads(values.loads),
    baseline: values.baseline,
    json: values.json,
    ...(values['deadline-seconds'] === undefined
      ? {}
      : { deadlineMs: positive('--deadline-seconds', Number(values['deadline-seconds'])) * 1000 }),
    log: (line) => process.stderr.write(`${line}\n`),
  };
}

/** The loads named in a comma-separated list. Throws INVALID_ARGUMENT for an unknown one. */
function selectMeshLoads(list: string): MeshLoad[] {
  const names = list
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(MESH_LOADS as readonly string[]).includes(n));
  if (unknown.length > 0 || names.length === 0)
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `unknown mesh load ${JSON.stringify(unknown.join(','))}: choose from ${MESH_LOADS.join(', ')}`,
    );
  return MESH_LOADS.filter((l) => names.includes(l));
}

async function main(): Promise<void> {
  const options = meshOptionsFromArgs(process.argv.slice(2));
  const result = await runMeshBench(options);
  process.stdout.write(`${meshTable(result)}\n`);
  writeResultJson(options.json, result);
}

if (import.meta.main) runBenchMain('mesh', main);
