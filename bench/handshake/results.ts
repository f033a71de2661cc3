import type { KeyType } from '../../common/key-type.ts';
import type { RunHeader } from '../lib/run-info.ts';
import { round } from '../lib/stats.ts';
import type { HandshakeFigures, WindowSample } from './measure-window.ts';
import type { HandshakeMode } from './protocol.ts';

export interface TargetModeResult {
  readonly target: string;
  readonly mode: HandshakeMode;
  readonly runs: readonly WindowSample[];
  readonly median: HandshakeFigures;
  readonly min: HandshakeFigures;
  readonly max: HandshakeFigures;
}

/** A target against the baseline in one mode: >1 means the target does better (more handshakes, less CPU). */
export interface HandshakeRatio {
  readonly target: string;
  readonly baseline: string;
  readonly mode: HandshakeMode;
  readonly handshakesPerSecond: number;
  readonly handshakesPerServerCpuSecond: number;
}

export interface HandshakeBenchResult extends RunHeader {
  readonly benchmark: 'handshake';
  readonly keyType: KeyType;
  readonly settings: {
    readonly windowSeconds: number;
    readonly warmupSeconds: number;
    readonly runs: number;
    readonly client?: 'node' | 'go';
    readonly clientProcesses: number;
    readonly concurrencyPerProcess: number;
  };
  readonly results: readonly TargetModeResult[];
  readonly ratios: readonly HandshakeRatio[];
  readonly notes: readonly string[];
}

export function computeRatios(results: readonly TargetModeResult[], baseline: string): HandshakeRatio[] {
  const ratios: HandshakeRatio[] = [];
  for (const r of results) {
    const base = results.find((b) => b.target === baseline && b.mode === r.mode);
    if (!base || r.target === baseline) continue;
    const ratio = (a: number, b: number) => (b > 0 ? round(a / b, 3) : Number.NaN);
    ratios.push({
      target: r.target,
      baseline,
      mode: r.mode,
      handshakesPerSecond: ratio(r.median.handshakesPerSecond, base.median.handshakesPerSecond),
      handshakesPerServerCpuSecond: ratio(
        r.median.handshakesPerServerCpuSecond,
        base.median.handshakesPerServerCpuSecond,
      ),
    });
  }
  return ratios;
}

/** Observations a reader must not miss: an unsaturated server, failures, resumption that did not happen. */
export function notesOf(results: readonly TargetModeResult[]): string[] {
  const notes: string[] = [];
  for (const r of results) {
    const m = r.median;
    const label = `${r.target} ${r.mode}`;
    // The app behind a proxy shares the server core, so the core is saturated when both together keep it busy.
    const appCores = Number.isFinite(m.auxCpuUsPerHandshake)
      ? round((m.auxCpuUsPerHandshake * m.handshakesPerSecond) / 1e6, 2)
      : 0;
    if (m.serverCores + appCores < 0.9) {
      notes.push(
        `${label}: the server core was not saturated (server ${m.serverCores}${appCores > 0 ? ` + app ${appCores}` : ''} of it busy, client ${m.clientCores} cores), ` +
          'so handshakes/s understates the server: the load client or other processes on the machine set the pace; compare handshakes per server CPU-second',
      );
    }
    if (m.failureRate > 0) {
      const codes = new Map<string, number>();
      for (const run of r.runs)
        for (const [code, n] of Object.entries(run.failed)) codes.set(code, (codes.get(code) ?? 0) + n);
      notes.push(
        `${label}: ${(m.failureRate * 100).toFixed(2)} % of connections failed (${[...codes].map(([c, n]) => `${c} ×${n}`).join(', ')})`,
      );
    }
    if (r.mode === 'resumed' && m.resumptionRate < 0.95)
      notes.push(
        `${label}: only ${(m.resumptionRate * 100).toFixed(1)} % of handshakes resumed a session; the rest were full handshakes`,
      );
  }
  return notes;
}

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : '–';
const range = (r: TargetModeResult, k: keyof HandshakeFigures) =>
  `${fmt(r.median[k])} (${fmt(r.min[k])}–${fmt(r.max[k])})`;

function clientOf(settings: HandshakeBenchResult['settings']): string {
  return settings.client === 'go'
    ? `Go load client, ${settings.concurrencyPerProcess} connections`
    : `${settings.clientProcesses} Node client processes × ${settings.concurrencyPerProcess} connections`;
}

export function handshakeTable(result: HandshakeBenchResult): string {
  const lines = [
    `Handshakes, TLS 1.3 mTLS, ${result.keyType} SVIDs; median (min–max) of ${result.settings.runs} runs of ${result.settings.windowSeconds} s after ${result.settings.warmupSeconds} s warm-up; ` +
      `${clientOf(result.settings)}; ${result.pinning}; Node ${result.node}, OpenSSL ${result.openssl}, commit ${result.commit}`,
    '',
    '| target | mode | handshakes/s | server µs / handshake | handshakes / server CPU-s | server cores busy | app µs / handshake | client µs / handshake | client cores busy | resumed | failed |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...result.results.map(
      (r) =>
        `| ${r.target} | ${r.mode} | ${range(r, 'handshakesPerSecond')} | ${range(r, 'serverCpuUsPerHandshake')} | ${range(r, 'handshakesPerServerCpuSecond')} | ${fmt(r.median.serverCores, 2)} | ${fmt(r.median.auxCpuUsPerHandshake)} | ${fmt(r.median.clientCpuUsPerHandshake)} | ${fmt(r.median.clientCores, 2)} | ${fmt(r.median.resumptionRate * 100, 1)} % | ${fmt(r.median.failureRate * 100, 2)} % |`,
    ),
  ];
  if (result.ratios.length > 0) {
    lines.push(
      '',
      `| ratio to ${result.baseline} | mode | handshakes/s | handshakes / server CPU-s |`,
      '| --- | --- | ---: | ---: |',
    );
    for (const q of result.ratios)
      lines.push(
        `| ${q.target} | ${q.mode} | ${fmt(q.handshakesPerSecond, 2)}× | ${fmt(q.handshakesPerServerCpuSecond, 2)}× |`,
      );
  }
  if (result.notes.length > 0) lines.push('', ...result.notes.map((n) => `- ${n}`));
  return lines.join('\n');
}
