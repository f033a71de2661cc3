import type { KeyType } from '../../common/key-type.ts';
import type { BarChartInput } from '../lib/bar-chart-svg.ts';
import { round } from '../lib/stats.ts';
import type { HandshakeFigures } from './measure-window.ts';
import type { HandshakeBenchResult, TargetModeResult } from './results.ts';

/** One run of the comparison: the handshake benchmark once per key type, same targets, same client. */
export interface HandshakeComparison {
  readonly benchmark: 'handshake-comparison';
  readonly date: string;
  readonly commit: string;
  readonly baseline: string;
  readonly byKeyType: readonly HandshakeBenchResult[];
}

const KEY_LABELS: Readonly<Partial<Record<KeyType, string>>> = {
  'ec-p256': 'ECDSA P-256',
  'ec-p384': 'ECDSA P-384',
  'rsa-2048': 'RSA-2048',
  'rsa-3072': 'RSA-3072',
  'rsa-4096': 'RSA-4096',
};
export const keyLabel = (k: KeyType) => KEY_LABELS[k] ?? k;

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : '–';
const range = (r: TargetModeResult, k: keyof HandshakeFigures) =>
  `${fmt(r.median[k])} (${fmt(r.min[k])}–${fmt(r.max[k])})`;

/** The target's median handshakes per server CPU-second over the baseline's, same key type and mode. */
export function ratioToBaseline(result: HandshakeBenchResult, r: TargetModeResult, baseline: string): number {
  const base = result.results.find((b) => b.target === baseline && b.mode === r.mode);
  const a = r.median.handshakesPerServerCpuSecond;
  const b = base?.median.handshakesPerServerCpuSecond ?? Number.NaN;
  return Number.isFinite(a) && b > 0 ? round(a / b, 2) : Number.NaN;
}

/**
 * The comparison table: every key type, mode and server, medians with min–max over the runs, and the ratio of
 * handshakes per server CPU-second to the baseline (nginx with one worker) measured in the same run.
 */
export function comparisonTable(comparison: HandshakeComparison): string {
  const first = comparison.byKeyType[0];
  const s = first?.settings;
  const lines = [
    `TLS 1.3 mTLS handshakes, new connection each; median (min–max) of ${s?.runs ?? '?'} runs of ${s?.windowSeconds ?? '?'} s after ${s?.warmupSeconds ?? '?'} s warm-up, runs interleaved; ` +
      `${s?.client === 'go' ? `Go load client, ${s.concurrencyPerProcess} connections` : 'Node load client'}; ${first?.pinning ?? ''}; Node ${first?.node ?? '?'}, OpenSSL ${first?.openssl ?? '?'}; ${first?.cores ?? '?'} cores (${first?.cpuModel ?? '?'}); commit ${comparison.commit}`,
    '',
    `| key | mode | server | handshakes/s | server µs / handshake | handshakes / server CPU-s | × ${comparison.baseline} (per CPU-s) | resumed | failed |`,
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const result of comparison.byKeyType) {
    for (const mode of ['full', 'resumed'] as const) {
      for (const r of result.results.filter((x) => x.mode === mode)) {
        lines.push(
          `| ${keyLabel(result.keyType)} | ${mode} | ${r.target} | ${range(r, 'handshakesPerSecond')} | ${range(r, 'serverCpuUsPerHandshake')} | ${range(r, 'handshakesPerServerCpuSecond')} | ` +
            `${fmt(ratioToBaseline(result, r, comparison.baseline), 2)}× | ${fmt(r.median.resumptionRate * 100, 1)} % | ${fmt(r.median.failureRate * 100, 2)} % |`,
        );
      }
    }
  }
  const notes = comparison.byKeyType.flatMap((r) => r.notes.map((n) => `${keyLabel(r.keyType)}: ${n}`));
  if (notes.length > 0) lines.push('', ...notes.map((n) => `- ${n}`));
  return lines.join('\n');
}

/** The chart the issue asks for: handshakes per server CPU-second, grouped by key type and mode, one bar per server. */
export function comparisonChart(comparison: HandshakeComparison): BarChartInput {
  return {
    title: 'TLS 1.3 mTLS handshakes per server CPU-second (higher is better)',
    unit: `median of ${comparison.byKeyType[0]?.settings.runs ?? '?'} runs, one server core, commit ${comparison.commit}`,
    groups: comparison.byKeyType.flatMap((result) =>
      (['full', 'resumed'] as const).map((mode) => ({
        label: `${keyLabel(result.keyType)}, ${mode} handshakes`,
        bars: result.results
          .filter((r) => r.mode === mode)
          .map((r) => ({ series: r.target, value: r.median.handshakesPerServerCpuSecond })),
      })),
    ),
  };
}
