// Keep-alive request latency (p50, p99) and throughput through the Sigil sidecar's inbound listener, nginx (1 worker),
// HAProxy (1 thread) and a bare node:tls server, each in front of the same echo app, and the app reached directly
// over plain TCP (the floor), at 1 and 16 connections, with the Go load client, in one run. Servers are pinned to
// core 0 with the app, the client to the other cores; server CPU per request is read from /proc.
// Run: `npx node bench/proxy.ts [--seconds 3] [--warmup 1] [--runs 3] [--concurrency 1,16] [--request-bytes 64]
//       [--key-type ec-p256|rsa-2048] [--targets ...] [--baseline nginx] [--json PATH] [--deadline-seconds N]`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ErrorCode, SigilError } from '../common/errors.ts';
import { parseKeyType, type KeyType } from '../common/key-type.ts';
import { startBenchPki, type BenchPki } from './handshake/bench-pki.ts';
import { detectPinning } from './handshake/cpu-pinning.ts';
import { GoLoadClient } from './handshake/go-load-client.ts';
import { summarizeFigures } from './handshake/measure-window.ts';
import { startTargets } from './handshake/start-targets.ts';
import { COMPARISON_BASELINE, COMPARISON_TARGETS, selectTargets } from './handshake/target-registry.ts';
import type { HandshakeTarget, RunningTarget } from './handshake/targets.ts';
import { startUpstreamApp } from './handshake/upstream-app.ts';
import type { NodeChild } from './handshake/node-child.ts';
import type { TargetReady } from './handshake/protocol.ts';
import {
  computeProxyRatios,
  proxyNotes,
  proxyTable,
  type ProxyBenchResult,
  type ProxyCaseResult,
} from './proxy/proxy-results.ts';
import {
  measureRequestWindow,
  requestFiguresOf,
  type RequestEndpoint,
  type RequestSample,
} from './proxy/request-window.ts';
import { runBenchMain, writeResultJson } from './lib/bench-main.ts';
import { withDeadline, type ChildProcesses } from './lib/child-processes.ts';
import { goLoadClientBinary } from './lib/go-client-build.ts';
import { machineInfo, positive } from './lib/run-info.ts';
import { ensureSystemPackages } from './lib/system-packages.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_PROXY_JSON = join(ROOT, 'bench', 'results', 'proxy.json');
export const DIRECT = 'app-direct';
const SETUP_ALLOWANCE_MS = 60_000;
const INTERVAL_MS = 200;

export interface ProxyBenchOptions {
  readonly windowSeconds?: number;
  readonly warmupSeconds?: number;
  readonly runs?: number;
  /** Connection counts measured, each connection one request in flight. Default [1, 16]. */
  readonly concurrencies?: readonly number[];
  readonly requestBytes?: number;
  readonly keyType?: KeyType;
  readonly targets?: readonly HandshakeTarget[];
  readonly baseline?: string;
  readonly deadlineMs?: number;
  readonly log?: (line: string) => void;
}

interface Settings {
  readonly windowSeconds: number;
  readonly warmupSeconds: number;
  readonly runs: number;
  readonly concurrencies: readonly number[];
  readonly requestBytes: number;
  readonly keyType: KeyType;
  readonly targets: readonly HandshakeTarget[];
  readonly baseline: string;
  readonly deadlineMs: number;
  readonly log: (line: string) => void;
}

function resolveSettings(options: ProxyBenchOptions): Settings {
  const windowSeconds = positive('--seconds', options.windowSeconds ?? 3);
  const warmupSeconds = options.warmupSeconds ?? 1;
  const runs = Math.floor(positive('--runs', options.runs ?? 3));
  const concurrencies = (options.concurrencies ?? [1, 16]).map((c) => Math.floor(positive('--concurrency', c)));
  const targets = options.targets ?? COMPARISON_TARGETS;
  const plannedMs = runs * concurrencies.length * (targets.length + 1) * (warmupSeconds + windowSeconds + 1) * 1000;
  return {
    windowSeconds,
    warmupSeconds,
    runs,
    concurrencies,
    requestBytes: Math.floor(positive('--request-bytes', options.requestBytes ?? 64)),
    keyType: options.keyType ?? 'ec-p256',
    targets,
    baseline: options.baseline ?? COMPARISON_BASELINE,
    deadlineMs: options.deadlineMs ?? plannedMs + SETUP_ALLOWANCE_MS,
    log: options.log ?? (() => undefined),
  };
}

type Named = { readonly name: string; readonly endpoint: RequestEndpoint };

async function measureRuns(
  settings: Settings,
  client: GoLoadClient,
  endpoints: readonly Named[],
): Promise<ProxyCaseResult[]> {
  const samples = new Map<string, RequestSample[]>();
  for (let run = 1; run <= settings.runs; run++) {
    for (const concurrency of settings.concurrencies) {
      for (const { name, endpoint } of endpoints) {
        const sample = await measureRequestWindow(client, endpoint, {
          concurrency,
          requestBytes: settings.requestBytes,
          warmupMs: settings.warmupSeconds * 1000,
          windowMs: settings.windowSeconds * 1000,
        });
        const key = `${name}|${concurrency}`;
        samples.set(key, [...(samples.get(key) ?? []), sample]);
        const f = requestFiguresOf(sample);
        settings.log(
          `run ${run}/${settings.runs} ${name} c=${concurrency}: ${f.requestsPerSecond} requests/s, p50 ${f.p50Us} µs, p99 ${f.p99Us} µs, ${f.serverCpuUsPerRequest} server µs each`,
        );
        await sleep(INTERVAL_MS);
      }
    }
  }
  return endpoints.flatMap(({ name }) =>
    settings.concurrencies.map((concurrency) => {
      const runs = samples.get(`${name}|${concurrency}`) ?? [];
      return { target: name, concurrency, runs, ...summarizeFigures(runs.map(requestFiguresOf)) };
    }),
  );
}

async function measureAll(
  settings: Settings,
  dir: string,
  goBinary: string,
  children: ChildProcesses,
): Promise<ProxyBenchResult> {
  const pinning = detectPinning();
  let pki: BenchPki | undefined;
  let directApp: NodeChild<TargetReady> | undefined;
  const running: RunningTarget[] = [];
  let client: GoLoadClient | undefined;
  try {
    settings.log(
      `setting up: ${settings.keyType} CA and control plane, ${settings.targets.map((t) => t.name).join(', ')} in front of an echo app; ${pinning.note}`,
    );
    pki = await startBenchPki(dir, settings.keyType);
    await startTargets(settings.targets, { dir, pki, app: 'echo', cpus: pinning.serverCpus, children }, running);
    directApp = await startUpstreamApp('echo', { cpus: pinning.serverCpus, children });
    client = await GoLoadClient.start(
      { binary: goBinary, credentials: pki.client, concurrency: 1, cpus: pinning.clientCpus },
      children,
    );
    const endpoints: Named[] = [
      {
        name: DIRECT,
        endpoint: {
          address: { host: directApp.ready.host, port: directApp.ready.port },
          serverPids: [directApp.pid],
          auxPids: [],
          plaintext: true,
        },
      },
      ...settings.targets.map((t, i) => {
        const r = running[i] as RunningTarget;
        return {
          name: t.name,
          endpoint: {
            address: r.address,
            get serverPids() {
              return r.serverPids;
            },
            auxPids: r.auxPids,
            plaintext: false,
          },
        };
      }),
    ];
    const results = await measureRuns(settings, client, endpoints);
    const failedEverything = results.filter((r) => r.median.requestsPerSecond === 0);
    if (failedEverything.length > 0) {
      throw new SigilError(
        ErrorCode.UNAVAILABLE,
        `no request completed through ${failedEverything.map((r) => `${r.target} (c=${r.concurrency})`).join(', ')}; the server's log is above`,
      );
    }
    return {
      benchmark: 'proxy',
      date: new Date().toISOString(),
      ...machineInfo(),
      pinning: pinning.note,
      keyType: settings.keyType,
      settings: {
        windowSeconds: settings.windowSeconds,
        warmupSeconds: settings.warmupSeconds,
        runs: settings.runs,
        requestBytes: settings.requestBytes,
        concurrencies: settings.concurrencies,
      },
      targets: [
        { name: DIRECT, description: 'the echo app over plain TCP, no proxy and no TLS: the floor' },
        ...settings.targets.map((t) => ({ name: t.name, description: t.description })),
      ],
      baseline: settings.baseline,
      direct: DIRECT,
      results,
      ratios: computeProxyRatios(results, settings.baseline, DIRECT),
      notes: proxyNotes(results),
    };
  } finally {
    await client?.close().catch(() => undefined);
    await directApp?.stop().catch(() => undefined);
    for (const t of running.reverse()) await t.stop().catch(() => undefined);
    await pki?.stop().catch(() => undefined);
  }
}

/** Sets everything up, measures every server at every concurrency, tears it all down; bounded by the deadline. */
export async function runProxyBench(options: ProxyBenchOptions = {}): Promise<ProxyBenchResult> {
  const settings = resolveSettings(options);
  ensureSystemPackages(
    settings.targets.flatMap((t) => t.requirements ?? []),
    settings.log,
  );
  for (const target of settings.targets) target.prepare?.(settings.log);
  const goBinary = goLoadClientBinary(settings.log);
  // Holds the temporary CA's and SVIDs' keys: removed on every exit path.
  const dir = mkdtempSync(join(tmpdir(), 'sigil-bench-proxy-'));
  try {
    return await withDeadline('bench/proxy', settings.deadlineMs, (children) =>
      measureAll(settings, dir, goBinary, children),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function proxyOptionsFromArgs(args: readonly string[]): ProxyBenchOptions & { json: string } {
  const { values } = parseArgs({
    args: [...args],
    options: {
      seconds: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '1' },
      runs: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '1,16' },
      'request-bytes': { type: 'string', default: '64' },
      'key-type': { type: 'string', default: 'ec-p256' },
      targets: { type: 'string', default: COMPARISON_TARGETS.map((t) => t.name).join(',') },
      baseline: { type: 'string', default: COMPARISON_BASELINE },
      json: { type: 'string', default: DEFAULT_PROXY_JSON },
      'deadline-seconds': { type: 'string' },
    },
  });
  return {
    windowSeconds: Number(values.seconds),
    warmupSeconds: Number(values.warmup),
    runs: Number(values.runs),
    concurrencies: values.concurrency.split(',').map(Number),
    requestBytes: Number(values['request-bytes']),
    keyType: parseKeyType(values['key-type']),
    targets: selectTargets(values.targets),
    baseline: values.baseline,
    json: values.json,
    ...(values['deadline-seconds'] === undefined
      ? {}
      : { deadlineMs: positive('--deadline-seconds', Number(values['deadline-seconds'])) * 1000 }),
    log: (line) => process.stderr.write(`${line}\n`),
  };
}

async function main(): Promise<void> {
  const options = proxyOptionsFromArgs(process.argv.slice(2));
  const result = await runProxyBench(options);
  process.stdout.write(`${proxyTable(result)}\n`);
  writeResultJson(options.json, result);
}

if (import.meta.main) runBenchMain('proxy', main);
