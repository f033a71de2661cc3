import type { KeyType } from '../../common/key-type.ts';
import type { RunHeader } from '../lib/run-info.ts';
import { round } from '../lib/stats.ts';

/** `connections`: each connection opened, one byte echoed, closed. `requests`: keep-alive connections, echo after echo. */
export type MeshLoad = 'connections' | 'requests';
export const MESH_LOADS: readonly MeshLoad[] = ['connections', 'requests'];

/** Raw figures of one measured window through one path. */
export interface MeshSample {
  readonly seconds: number;
  /** Connections (connections load) or requests (requests load) completed by the client in the window. */
  readonly operations: number;
  readonly failed: Readonly<Record<string, number>>;
  /** Both proxies together, user + system, all threads. */
  readonly proxyCpuMs: number;
  readonly appCpuMs: number;
  readonly clientCpuMs: number;
  /** TLS sessions established between the two proxies in the window, and how many resumed. */
  readonly sessions: number;
  readonly resumed: number;
}

export interface MeshFigures {
  readonly operationsPerSecond: number;
  /** Both proxies' CPU per connection (or request): what the path costs beyond the app. */
  readonly proxyCpuUsPerOperation: number;
  /** Proxy CPU-seconds per second: near 1 the shared server core set the pace, below it the client did. */
  readonly proxyCores: number;
  readonly appCpuUsPerOperation: number;
  /** The app's CPU-seconds per second, on the proxies' core. */
  readonly appCores: number;
  readonly clientCores: number;
  /** Share of the sessions between the proxies that resumed (NaN when none was established). */
  readonly resumedShare: number;
  /** Sessions between the proxies per client operation: about 1 for connections, about 0 for requests. */
  readonly sessionsPerOperation: number;
  readonly failureRate: number;
}

export interface MeshCaseResult {
  readonly path: string;
  readonly load: MeshLoad;
  readonly runs: readonly MeshSample[];
  readonly median: MeshFigures;
  readonly min: MeshFigures;
  readonly max: MeshFigures;
}

/** A path's proxy CPU per operation over the baseline path's, same load, same run: below 1 it is cheaper. */
export interface MeshRatio {
  readonly path: string;
  readonly baseline: string;
  readonly load: MeshLoad;
  readonly proxyCpuPerOperation: number;
}

export interface MeshBenchResult extends RunHeader {
  readonly benchmark: 'mesh';
  readonly keyType: KeyType;
  readonly settings: {
    readonly windowSeconds: number;
    readonly warmupSeconds: number;
    readonly runs: number;
    readonly concurrency: number;
  };
  readonly results: readonly MeshCaseResult[];
  readonly ratios: readonly MeshRatio[];
  readonly notes: readonly string[];
}

export function meshFiguresOf(s: MeshSample): MeshFigures {
  const n = s.operations;
  const failures = Object.values(s.failed).reduce((a, b) => a + b, 0);
  const perOperation = (ms: number) => (n > 0 ? round((ms * 1000) / n, 1) : Number.NaN);
  return {
    operationsPerSecond: round(n / s.seconds, 1),
    proxyCpuUsPerOperation: perOperation(s.proxyCpuMs),
    proxyCores: round(s.proxyCpuMs / 1000 / s.seconds, 2),
    appCpuUsPerOperation: perOperation(s.appCpuMs),
    appCores: round(s.appCpuMs / 1000 / s.seconds, 2),
    clientCores: round(s.clientCpuMs / 1000 / s.seconds, 2),
    resumedShare: s.sessions > 0 ? round(s.resumed / s.sessions, 4) : Number.NaN,
    sessionsPerOperation: n > 0 ? round(s.sessions / n, 3) : Number.NaN,
    failureRate: n + failures > 0 ? round(failures / (n + failures), 4) : 0,
  };
}

const ratio = (a: number, b: number) =>
  Number.isFinite(a) && Number.isFinite(b) && b > 0 ? round(a / b, 2) : Number.NaN;

export function computeMeshRatios(results: readonly MeshCaseResult[], baseline: string): MeshRatio[] {
  return results.flatMap((r) => {
    const base = results.find((b) => b.path === baseline && b.load === r.load);
    if (!base || r.path === baseline) return [];
    return [
      {
        path: r.path,
        baseline,
        load: r.load,
        proxyCpuPerOperation: ratio(r.median.proxyCpuUsPerOperation, base.median.proxyCpuUsPerOperation),
      },
    ];
  });
}

/** What a reader must know to trust the table: failures, and paths whose resumption did not take. */
export function meshNotes(results: readonly MeshCaseResult[], resumingPaths: readonly string[]): string[] {
  const notes: string[] = [];
  for (const r of results) {
    if (r.median.failureRate > 0)
      notes.push(`${r.path} ${r.load}: ${(r.median.failureRate * 100).toFixed(2)} % of operations failed`);
    if (r.load === 'connections' && resumingPaths.includes(r.path) && !(r.median.resumedShare >= 0.95))
      notes.push(
        `${r.path}: only ${Number.isFinite(r.median.resumedShare) ? (r.median.resumedShare * 100).toFixed(1) : '–'} % of sessions between the proxies resumed`,
      );
    const busy = round(r.median.proxyCores + r.median.appCores, 2);
    if (busy < 0.8)
      notes.push(
        `${r.path} ${r.load}: the proxies and the app kept their core ${busy} busy, so the rate understates them (the client or other load set the pace); compare CPU per operation`,
      );
  }
  return notes;
}

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : '–';
const range = (r: MeshCaseResult, k: keyof MeshFigures, digits = 0) =>
  `${fmt(r.median[k], digits)} (${fmt(r.min[k], digits)}–${fmt(r.max[k], digits)})`;
const share = (n: number) => (Number.isFinite(n) ? `${(n * 100).toFixed(1)} %` : '–');

/** The Markdown tables: one row per path and load, then proxy CPU per operation over the baseline path's. */
export function meshTable(result: MeshBenchResult): string {
  const s = result.settings;
  const lines = [
    `Mesh path: load client → outbound proxy → inbound proxy → echo app, plain TCP at both ends, TLS 1.3 mTLS between the proxies, ${result.keyType} SVIDs (the same for every path); ` +
      `${s.concurrency} connections; median (min–max) of ${s.runs} runs of ${s.windowSeconds} s after ${s.warmupSeconds} s warm-up; Go load client; ${result.pinning}; ` +
      `Node ${result.node}, OpenSSL ${result.openssl}, commit ${result.commit}`,
    '',
    '| path | load | per second | both proxies µs / operation | proxy cores busy | app µs / operation | resumed between proxies | failed |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...result.results.map(
      (r) =>
        `| ${r.path} | ${r.load} | ${range(r, 'operationsPerSecond')} | ${range(r, 'proxyCpuUsPerOperation')} | ${fmt(r.median.proxyCores, 2)} | ${fmt(r.median.appCpuUsPerOperation)} | ${r.load === 'connections' ? share(r.median.resumedShare) : '–'} | ${(r.median.failureRate * 100).toFixed(2)} % |`,
    ),
  ];
  if (result.ratios.length > 0) {
    lines.push(
      '',
      `| proxy CPU / operation, ratio to ${result.baseline} | connections | requests |`,
      '| --- | ---: | ---: |',
    );
    const paths = [...new Set(result.ratios.map((q) => q.path))];
    for (const path of paths) {
      const of = (load: MeshLoad) => result.ratios.find((q) => q.path === path && q.load === load);
      lines.push(
        `| ${path} | ${fmt(of('connections')?.proxyCpuPerOperation ?? Number.NaN, 2)}× | ${fmt(of('requests')?.proxyCpuPerOperation ?? Number.NaN, 2)}× |`,
      );
    }
  }
  if (result.notes.length > 0) lines.push('', ...result.notes.map((n) => `- ${n}`));
  return lines.join('\n');
}
