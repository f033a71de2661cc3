import type { KeyType } from '../../common/key-type.ts';
import type { RunHeader } from '../lib/run-info.ts';
import { round } from '../lib/stats.ts';
import type { RequestFigures, RequestSample } from './request-window.ts';

export interface ProxyCaseResult {
  readonly target: string;
  readonly concurrency: number;
  readonly runs: readonly RequestSample[];
  readonly median: RequestFigures;
  readonly min: RequestFigures;
  readonly max: RequestFigures;
}

/**
 * A proxy against the baseline at one concurrency. `addedP50` compares what each adds to the app reached directly
 * (p50 minus the direct p50): below 1 the target adds less latency than the baseline. The others are plain ratios
 * of medians (latency and CPU: lower is better; requests/s: higher is better).
 */
export interface ProxyRatio {
  readonly target: string;
  readonly baseline: string;
  readonly concurrency: number;
  readonly addedP50: number;
  readonly p50: number;
  readonly p99: number;
  readonly requestsPerSecond: number;
  readonly serverCpuPerRequest: number;
}

export interface ProxyBenchResult extends RunHeader {
  readonly benchmark: 'proxy';
  readonly keyType: KeyType;
  readonly settings: {
    readonly windowSeconds: number;
    readonly warmupSeconds: number;
    readonly runs: number;
    readonly requestBytes: number;
    readonly concurrencies: readonly number[];
  };
  /** The app reached over plain TCP, no proxy: the floor of every latency. */
  readonly direct: string;
  readonly results: readonly ProxyCaseResult[];
  readonly ratios: readonly ProxyRatio[];
  readonly notes: readonly string[];
}

const ratio = (a: number, b: number) =>
  Number.isFinite(a) && Number.isFinite(b) && b > 0 ? round(a / b, 3) : Number.NaN;

export function computeProxyRatios(
  results: readonly ProxyCaseResult[],
  baseline: string,
  direct: string,
): ProxyRatio[] {
  const find = (target: string, c: number) => results.find((r) => r.target === target && r.concurrency === c);
  return results.flatMap((r) => {
    const base = find(baseline, r.concurrency);
    const floor = find(direct, r.concurrency);
    if (!base || r.target === baseline || r.target === direct) return [];
    const added = (x: ProxyCaseResult) => x.median.p50Us - (floor?.median.p50Us ?? Number.NaN);
    return [
      {
        target: r.target,
        baseline,
        concurrency: r.concurrency,
        addedP50: ratio(added(r), added(base)),
        p50: ratio(r.median.p50Us, base.median.p50Us),
        p99: ratio(r.median.p99Us, base.median.p99Us),
        requestsPerSecond: ratio(r.median.requestsPerSecond, base.median.requestsPerSecond),
        serverCpuPerRequest: ratio(r.median.serverCpuUsPerRequest, base.median.serverCpuUsPerRequest),
      },
    ];
  });
}

export function proxyNotes(results: readonly ProxyCaseResult[]): string[] {
  return results.flatMap((r) =>
    r.median.failureRate > 0
      ? [`${r.target} c=${r.concurrency}: ${(r.median.failureRate * 100).toFixed(2)} % of requests failed`]
      : [],
  );
}

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : '–';
const range = (r: ProxyCaseResult, k: keyof RequestFigures, digits = 0) =>
  `${fmt(r.median[k], digits)} (${fmt(r.min[k], digits)}–${fmt(r.max[k], digits)})`;

export function proxyTable(result: ProxyBenchResult): string {
  const s = result.settings;
  const lines = [
    `Keep-alive requests through each server, ${s.requestBytes}-byte request echoed by the app; TLS 1.3 mTLS, ${result.keyType} SVIDs; median (min–max) of ${s.runs} runs of ${s.windowSeconds} s after ${s.warmupSeconds} s warm-up; ` +
      `Go load client; ${result.pinning}; Node ${result.node}, OpenSSL ${result.openssl}, commit ${result.commit}`,
    '',
    '| target | connections | requests/s | p50 µs | p99 µs | server µs / request | app µs / request | server cores busy |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...result.results.map(
      (r) =>
        `| ${r.target} | ${r.concurrency} | ${range(r, 'requestsPerSecond')} | ${range(r, 'p50Us')} | ${range(r, 'p99Us')} | ${range(r, 'serverCpuUsPerRequest', 1)} | ${fmt(r.median.auxCpuUsPerRequest, 1)} | ${fmt(r.median.serverCores, 2)} |`,
    ),
  ];
  if (result.ratios.length > 0) {
    lines.push(
      '',
      `| ratio to ${result.baseline} | connections | added p50 (over ${result.direct}) | p50 | p99 | requests/s | server CPU / request |`,
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const q of result.ratios)
      lines.push(
        `| ${q.target} | ${q.concurrency} | ${fmt(q.addedP50, 2)}× | ${fmt(q.p50, 2)}× | ${fmt(q.p99, 2)}× | ${fmt(q.requestsPerSecond, 2)}× | ${fmt(q.serverCpuPerRequest, 2)}× |`,
      );
  }
  if (result.notes.length > 0) lines.push('', ...result.notes.map((n) => `- ${n}`));
  return lines.join('\n');
}
