import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { processCpuMs } from '../lib/process-cpu.ts';
import { round } from '../lib/stats.ts';
import { diffCounts, type LoadGenerator } from './load-client.ts';
import type { HandshakeMode } from './protocol.ts';
import type { RunningTarget } from './targets.ts';

/** Raw figures of one measured window. */
export interface WindowSample {
  readonly seconds: number;
  readonly handshakes: number;
  readonly resumed: number;
  readonly failed: Readonly<Record<string, number>>;
  readonly serverCpuMs: number;
  /** NaN when the target has no helper process. */
  readonly auxCpuMs: number;
  readonly clientCpuMs: number;
}

/** What the tables compare, derived from one window (or the median of several). */
export interface HandshakeFigures {
  readonly handshakesPerSecond: number;
  /** Server CPU time (user + system, all threads) per completed handshake. */
  readonly serverCpuUsPerHandshake: number;
  readonly handshakesPerServerCpuSecond: number;
  /** Server CPU-seconds per second: below ~0.9 of its one core the client, not the server, set the pace. */
  readonly serverCores: number;
  /** The application behind a proxy, per handshake (NaN, null in JSON, for servers that answer themselves). */
  readonly auxCpuUsPerHandshake: number;
  readonly clientCpuUsPerHandshake: number;
  readonly clientCores: number;
  /** Share of completed handshakes that resumed a session. */
  readonly resumptionRate: number;
  /** Failed connections per attempted connection. */
  readonly failureRate: number;
}

const sumCpu = (pids: readonly number[]) => pids.reduce((sum, pid) => sum + processCpuMs(pid), 0);

/** Two snapshots of a running load and the CPU of everyone involved, read at the same instants. */
export interface SnapshotWindow<S> {
  readonly before: S;
  readonly after: S;
  readonly seconds: number;
  readonly serverCpuMs: number;
  /** NaN when there are no helper processes. */
  readonly auxCpuMs: number;
  readonly clientCpuMs: number;
}

/**
 * The measurement both the handshake and the request benchmarks make: an unmeasured warm-up, then a window between
 * two client snapshots, with server, helper and client CPU from /proc at the same instants as the snapshots.
 */
export async function snapshotWindow<S>(
  client: { snapshot(): Promise<S>; cpuMs(): number },
  pids: { readonly serverPids: readonly number[]; readonly auxPids: readonly number[] },
  timing: { readonly warmupMs: number; readonly windowMs: number },
): Promise<SnapshotWindow<S>> {
  await sleep(timing.warmupMs);
  const before = await client.snapshot();
  const t0 = performance.now();
  const [s0, a0, k0] = [sumCpu(pids.serverPids), sumCpu(pids.auxPids), client.cpuMs()];
  await sleep(timing.windowMs);
  const after = await client.snapshot();
  const t1 = performance.now();
  const [s1, a1, k1] = [sumCpu(pids.serverPids), sumCpu(pids.auxPids), client.cpuMs()];
  return {
    before,
    after,
    seconds: (t1 - t0) / 1000,
    serverCpuMs: s1 - s0,
    auxCpuMs: pids.auxPids.length > 0 ? a1 - a0 : Number.NaN,
    clientCpuMs: k1 - k0,
  };
}

/**
 * One run against one target: the load starts, runs `warmupMs` unmeasured, then a window of `windowMs` is measured
 * between two count snapshots, with server, helper and client CPU read from /proc at the same instants.
 */
export async function measureWindow(
  client: LoadGenerator,
  target: RunningTarget,
  mode: HandshakeMode,
  timing: { warmupMs: number; windowMs: number },
): Promise<WindowSample> {
  await client.begin(target.address, mode);
  try {
    const { before, after, ...window } = await snapshotWindow(client, target, timing);
    return { ...window, ...diffCounts(before, after) };
  } finally {
    await client.end();
  }
}

export function figuresOf(s: WindowSample): HandshakeFigures {
  const n = s.handshakes;
  const failures = Object.values(s.failed).reduce((a, b) => a + b, 0);
  const perHandshake = (ms: number) => (n > 0 ? round((ms * 1000) / n) : Number.NaN);
  return {
    handshakesPerSecond: round(n / s.seconds, 1),
    serverCpuUsPerHandshake: perHandshake(s.serverCpuMs),
    handshakesPerServerCpuSecond: s.serverCpuMs > 0 ? round(n / (s.serverCpuMs / 1000), 1) : Number.NaN,
    serverCores: round(s.serverCpuMs / 1000 / s.seconds, 2),
    auxCpuUsPerHandshake: perHandshake(s.auxCpuMs),
    clientCpuUsPerHandshake: perHandshake(s.clientCpuMs),
    clientCores: round(s.clientCpuMs / 1000 / s.seconds, 2),
    resumptionRate: n > 0 ? round(s.resumed / n, 4) : 0,
    failureRate: n + failures > 0 ? round(failures / (n + failures), 4) : 0,
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Per figure: the median, minimum and maximum over the runs (each figure on its own). */
export function summarizeFigures<F extends { readonly [K in keyof F]: number }>(
  runs: readonly F[],
): { median: F; min: F; max: F } {
  const keys = Object.keys(runs[0] ?? {}) as (keyof F)[];
  const pick = (f: (values: number[]) => number) =>
    Object.fromEntries(keys.map((k) => [k, round(f(runs.map((r) => r[k])), 4)])) as unknown as F;
  return { median: pick(median), min: pick((v) => Math.min(...v)), max: pick((v) => Math.max(...v)) };
}
