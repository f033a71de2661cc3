// Full and resumed TLS 1.3 mTLS handshakes per second and per server CPU-second through the Sigil sidecar's inbound
// listener, next to a bare node:tls server, nginx (1 worker) and HAProxy (1 thread) serving the very same SVID and
// proxying to the same app, measured with one load client in one run. Every server is a child process pinned to
// core 0 (clients on the other cores) and its CPU is read from /proc.
// Run: `npx node bench/handshake.ts [--seconds 8] [--warmup 2] [--runs 3] [--key-type ec-p256|rsa-2048]
//       [--client go|node] [--targets sigil-sidecar,node-tls-bare,go-tls-proxy,nginx,haproxy] [--baseline nginx]
//       [--clients 3] [--concurrency N] [--json PATH] [--deadline-seconds N]`. Writes bench/results/handshake.json.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ErrorCode, SigilError, isSigilError } from '../common/errors.ts';
import { parseKeyType, type KeyType } from '../common/key-type.ts';
import { withDeadline, type ChildProcesses } from './lib/child-processes.ts';
import { startBenchPki, type BenchPki } from './handshake/bench-pki.ts';
import { detectPinning, type CpuPinning } from './handshake/cpu-pinning.ts';
import { GoLoadClient } from './handshake/go-load-client.ts';
import { LoadClient, type LoadGenerator } from './handshake/load-client.ts';
import { figuresOf, measureWindow, summarizeFigures, type WindowSample } from './handshake/measure-window.ts';
import { HANDSHAKE_MODES, type HandshakeMode } from './handshake/protocol.ts';
import {
  computeRatios,
  handshakeTable,
  notesOf,
  type HandshakeBenchResult,
  type TargetModeResult,
} from './handshake/results.ts';
import { startTargets } from './handshake/start-targets.ts';
import { COMPARISON_BASELINE, COMPARISON_TARGETS, selectTargets } from './handshake/target-registry.ts';
import { DEFAULT_TARGETS, type HandshakeTarget, type RunningTarget } from './handshake/targets.ts';
import { runBenchMain, writeResultJson } from './lib/bench-main.ts';
import { goLoadClientBinary } from './lib/go-client-build.ts';
import { machineInfo, positive } from './lib/run-info.ts';
import { ensureSystemPackages } from './lib/system-packages.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_HANDSHAKE_JSON = join(ROOT, 'bench', 'results', 'handshake.json');
const SETUP_ALLOWANCE_MS = 60_000;
const PROBE_MS = 500;
/** Probe windows tried before a target counts as refusing: on a loaded machine a first window can pass empty. */
const PROBE_ATTEMPTS = 4;
/** A pause between windows, so the closing connections of one do not overlap the next. */
const INTERVAL_MS = 200;

export type LoadClientKind = 'node' | 'go';

export interface HandshakeBenchOptions {
  /** Length of each measured window. Default 8. */
  readonly windowSeconds?: number;
  /** Unmeasured load before each window. Default 2. */
  readonly warmupSeconds?: number;
  /** Runs per target and mode; the tables show their median. Default 3. */
  readonly runs?: number;
  /** Key type of the CA and of every SVID. Default ec-p256. */
  readonly keyType?: KeyType;
  /**
   * The load client: 'node' (worker processes, about as costly per handshake as the server) or 'go' (one process of
   * the Go client, built with Debian's golang-go, installed when missing). Default node.
   */
  readonly client?: LoadClientKind;
  /** Node load-client processes. Default 3. */
  readonly clientProcesses?: number;
  /** Connections each client process keeps in flight. Default 8 (Node), 16 (Go). */
  readonly concurrency?: number;
  readonly modes?: readonly HandshakeMode[];
  /** Servers under test, started in order (the first that obtains its own SVID lends it to the others). */
  readonly targets?: readonly HandshakeTarget[];
  /** The target the ratios are taken against. Default node-tls-bare. */
  readonly baseline?: string;
  /** Wall-clock bound of the whole run; default: the planned windows plus a minute. */
  readonly deadlineMs?: number;
  readonly log?: (line: string) => void;
}

/** One short burst per target before measuring, so a target that refuses the client fails the run at once. */
async function probe(
  client: LoadGenerator,
  targets: readonly HandshakeTarget[],
  running: readonly RunningTarget[],
): Promise<void> {
  for (const [i, target] of targets.entries()) {
    let sample = await measureWindow(client, running[i] as RunningTarget, 'full', { warmupMs: 0, windowMs: PROBE_MS });
    for (let attempt = 1; attempt < PROBE_ATTEMPTS && sample.handshakes === 0; attempt++)
      sample = await measureWindow(client, running[i] as RunningTarget, 'full', { warmupMs: 0, windowMs: PROBE_MS });
    if (sample.handshakes === 0) {
      throw new SigilError(
        ErrorCode.UNAVAILABLE,
        `${target.name} completed no handshake with the load client (failures: ${JSON.stringify(sample.failed)}); ` +
          'a sidecar that accepts the handshake and closes without the byte refused the client (policy, revocation): its log is above',
      );
    }
  }
}

interface Settings {
  readonly windowSeconds: number;
  readonly warmupSeconds: number;
  readonly runs: number;
  readonly keyType: KeyType;
  readonly client: LoadClientKind;
  readonly clientProcesses: number;
  readonly concurrency: number;
  readonly modes: readonly HandshakeMode[];
  readonly targets: readonly HandshakeTarget[];
  readonly baseline: string;
  readonly deadlineMs: number;
  readonly log: (line: string) => void;
}

function resolveSettings(options: HandshakeBenchOptions): Settings {
  const windowSeconds = positive('--seconds', options.windowSeconds ?? 8);
  const warmupSeconds = options.warmupSeconds ?? 2;
  const runs = Math.floor(positive('--runs', options.runs ?? 3));
  const modes = options.modes ?? HANDSHAKE_MODES;
  const targets = options.targets ?? DEFAULT_TARGETS;
  const plannedMs = runs * modes.length * targets.length * (warmupSeconds + windowSeconds + 1) * 1000;
  return {
    windowSeconds,
    warmupSeconds,
    runs,
    keyType: options.keyType ?? 'ec-p256',
    client: options.client ?? 'node',
    clientProcesses: options.client === 'go' ? 1 : Math.floor(positive('--clients', options.clientProcesses ?? 3)),
    concurrency: Math.floor(positive('--concurrency', options.concurrency ?? (options.client === 'go' ? 16 : 8))),
    modes,
    targets,
    baseline: options.baseline ?? 'node-tls-bare',
    deadlineMs: options.deadlineMs ?? plannedMs + SETUP_ALLOWANCE_MS,
    log: options.log ?? (() => undefined),
  };
}

/** Every run of every target and mode, interleaved so that a drift of the machine touches every target alike. */
async function measureRuns(
  settings: Settings,
  client: LoadGenerator,
  running: readonly RunningTarget[],
): Promise<TargetModeResult[]> {
  const { runs, modes, targets } = settings;
  const samples = new Map<string, WindowSample[]>();
  for (let run = 1; run <= runs; run++) {
    for (const mode of modes) {
      for (const [i, target] of targets.entries()) {
        const sample = await measureWindow(client, running[i] as RunningTarget, mode, {
          warmupMs: settings.warmupSeconds * 1000,
          windowMs: settings.windowSeconds * 1000,
        });
        const key = `${target.name}|${mode}`;
        samples.set(key, [...(samples.get(key) ?? []), sample]);
        const f = figuresOf(sample);
        settings.log(
          `run ${run}/${runs} ${target.name} ${mode}: ${f.handshakesPerSecond}/s, ${f.serverCpuUsPerHandshake} server µs each, resumed ${(f.resumptionRate * 100).toFixed(1)} %`,
        );
        await sleep(INTERVAL_MS);
      }
    }
  }
  return targets.flatMap((target) =>
    modes.map((mode) => {
      const runsOf = samples.get(`${target.name}|${mode}`) ?? [];
      return { target: target.name, mode, runs: runsOf, ...summarizeFigures(runsOf.map(figuresOf)) };
    }),
  );
}

function startClient(
  settings: Settings,
  goBinary: string | undefined,
  pki: BenchPki,
  pinning: CpuPinning,
  children: ChildProcesses,
): Promise<LoadGenerator> {
  if (goBinary)
    return GoLoadClient.start(
      { binary: goBinary, credentials: pki.client, concurrency: settings.concurrency, cpus: pinning.clientCpus },
      children,
    );
  return LoadClient.start(
    {
      credentials: pki.client,
      processes: settings.clientProcesses,
      concurrency: settings.concurrency,
      cpus: pinning.clientCpus,
    },
    children,
  );
}

async function measureAll(
  settings: Settings,
  dir: string,
  goBinary: string | undefined,
  children: ChildProcesses,
): Promise<HandshakeBenchResult> {
  const pinning = detectPinning();
  let pki: BenchPki | undefined;
  const running: RunningTarget[] = [];
  let client: LoadGenerator | undefined;
  try {
    settings.log(
      `setting up: ${settings.keyType} CA and control plane, ${settings.targets.map((t) => t.name).join(', ')}; ${pinning.note}`,
    );
    pki = await startBenchPki(dir, settings.keyType);
    await startTargets(settings.targets, { dir, pki, app: 'one-byte', cpus: pinning.serverCpus, children }, running);
    client = await startClient(settings, goBinary, pki, pinning, children);
    await probe(client, settings.targets, running);
    const results = await measureRuns(settings, client, running);
    return {
      benchmark: 'handshake',
      date: new Date().toISOString(),
      ...machineInfo(),
      pinning: pinning.note,
      keyType: settings.keyType,
      settings: {
        windowSeconds: settings.windowSeconds,
        warmupSeconds: settings.warmupSeconds,
        runs: settings.runs,
        client: settings.client,
        clientProcesses: settings.clientProcesses,
        concurrencyPerProcess: settings.concurrency,
      },
      targets: settings.targets.map((t) => ({ name: t.name, description: t.description })),
      baseline: settings.baseline,
      results,
      ratios: computeRatios(results, settings.baseline),
      notes: notesOf(results),
    };
  } finally {
    await client?.close().catch(() => undefined);
    for (const t of running.reverse()) await t.stop().catch(() => undefined);
    await pki?.stop().catch(() => undefined);
  }
}

/**
 * Installs what the targets and the client need (Debian packages, the Go client's build) before the deadline
 * starts: apt-get and go build are bounded on their own, and fail with a message naming the package.
 */
export function prepareHandshakeBench(
  options: Pick<HandshakeBenchOptions, 'client' | 'targets' | 'log'>,
): string | undefined {
  const log = options.log ?? (() => undefined);
  const targets = options.targets ?? DEFAULT_TARGETS;
  ensureSystemPackages(
    targets.flatMap((t) => t.requirements ?? []),
    log,
  );
  for (const target of targets) target.prepare?.(log);
  return options.client === 'go' ? goLoadClientBinary(log) : undefined;
}

/**
 * Sets up a CA, a control plane, the targets (child processes on the server core) and the load client, measures
 * every target and mode, and tears it all down. Rejects with DEADLINE_EXCEEDED (children killed) past the deadline.
 */
export async function runHandshakeBench(options: HandshakeBenchOptions = {}): Promise<HandshakeBenchResult> {
  const settings = resolveSettings(options);
  const goBinary = prepareHandshakeBench(options);
  // The directory holds the temporary CA's and SVIDs' keys: removed on every exit path, the deadline's included.
  const dir = mkdtempSync(join(tmpdir(), 'sigil-bench-handshake-'));
  try {
    return await withDeadline('bench/handshake', settings.deadlineMs, (children) =>
      measureAll(settings, dir, goBinary, children),
    );
  } catch (err) {
    if (!isSigilError(err, ErrorCode.DEADLINE_EXCEEDED)) throw err;
    throw new SigilError(
      ErrorCode.DEADLINE_EXCEEDED,
      `bench/handshake did not finish within ${Math.round(settings.deadlineMs / 1000)} s, so its servers and load clients were killed: ` +
        'lower --runs or --seconds, raise --deadline-seconds, or look for a server that stopped answering',
      { cause: err },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function parseClientKind(value: string): LoadClientKind {
  if (value === 'go' || value === 'node') return value;
  throw new SigilError(ErrorCode.INVALID_ARGUMENT, `--client must be go or node, got ${JSON.stringify(value)}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '8' },
      warmup: { type: 'string', default: '2' },
      runs: { type: 'string', default: '3' },
      'key-type': { type: 'string', default: 'ec-p256' },
      clients: { type: 'string', default: '3' },
      concurrency: { type: 'string' },
      client: { type: 'string', default: 'go' },
      targets: { type: 'string', default: COMPARISON_TARGETS.map((t) => t.name).join(',') },
      baseline: { type: 'string', default: COMPARISON_BASELINE },
      json: { type: 'string', default: DEFAULT_HANDSHAKE_JSON },
      'deadline-seconds': { type: 'string' },
    },
  });
  const result = await runHandshakeBench({
    windowSeconds: Number(values.seconds),
    warmupSeconds: Number(values.warmup),
    runs: Number(values.runs),
    keyType: parseKeyType(values['key-type']),
    client: parseClientKind(values.client),
    clientProcesses: Number(values.clients),
    ...(values.concurrency === undefined ? {} : { concurrency: Number(values.concurrency) }),
    targets: selectTargets(values.targets),
    baseline: values.baseline,
    ...(values['deadline-seconds'] === undefined
      ? {}
      : { deadlineMs: positive('--deadline-seconds', Number(values['deadline-seconds'])) * 1000 }),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${handshakeTable(result)}\n`);
  writeResultJson(values.json, result);
}

if (import.meta.main) runBenchMain('handshake', main);
