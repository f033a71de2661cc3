import t from 'tap';
import { comparisonChart, comparisonTable, ratioToBaseline, type HandshakeComparison } from './comparison-report.ts';
import { figuresOf, summarizeFigures, type WindowSample } from './measure-window.ts';
import type { HandshakeBenchResult, TargetModeResult } from './results.ts';

const sample = (handshakes: number, serverCpuMs: number, resumed = 0): WindowSample => ({
  seconds: 2,
  handshakes,
  resumed,
  failed: {},
  serverCpuMs,
  auxCpuMs: Number.NaN,
  clientCpuMs: 1000,
});

function result(target: string, mode: 'full' | 'resumed', runs: WindowSample[]): TargetModeResult {
  return { target, mode, runs, ...summarizeFigures(runs.map(figuresOf)) };
}

function bench(keyType: 'ec-p256' | 'rsa-2048', results: TargetModeResult[]): HandshakeBenchResult {
  return {
    benchmark: 'handshake',
    date: '2026-11-29T00:00:00.000Z',
    commit: 'abc1234',
    node: '26.10.0',
    openssl: '3.5.8',
    cores: 2,
    cpuModel: 'test cpu',
    pinning: 'server on core 0, clients on 1 (taskset)',
    keyType,
    settings: {
      windowSeconds: 2,
      warmupSeconds: 1,
      runs: 3,
      client: 'go',
      clientProcesses: 1,
      concurrencyPerProcess: 16,
    },
    targets: [],
    baseline: 'nginx',
    results,
    ratios: [],
    notes: [],
  };
}

const ec = bench('ec-p256', [
  result('sigil-sidecar', 'full', [sample(1000, 1900), sample(1100, 1900), sample(1200, 1900)]),
  result('nginx', 'full', [sample(800, 1900), sample(800, 1900), sample(800, 1900)]),
  result('sigil-sidecar', 'resumed', [sample(2000, 1900, 2000)]),
  result('nginx', 'resumed', [sample(1000, 1900, 1000)]),
]);
const rsa = bench('rsa-2048', [
  result('sigil-sidecar', 'full', [sample(300, 1900)]),
  result('nginx', 'full', [sample(200, 1900)]),
]);
const comparison: HandshakeComparison = {
  benchmark: 'handshake-comparison',
  date: ec.date,
  commit: 'abc1234',
  baseline: 'nginx',
  byKeyType: [ec, rsa],
};

t.test('ratios are per server CPU-second against the baseline of the same key type and mode', async (t) => {
  const [sigilFull, nginxFull, sigilResumed] = ec.results as TargetModeResult[];
  t.equal(ratioToBaseline(ec, sigilFull as TargetModeResult, 'nginx'), 1.37, 'median 1100 over 800 per 1.9 CPU-s');
  t.equal(ratioToBaseline(ec, nginxFull as TargetModeResult, 'nginx'), 1);
  t.equal(ratioToBaseline(ec, sigilResumed as TargetModeResult, 'nginx'), 2);
  t.ok(Number.isNaN(ratioToBaseline(ec, sigilFull as TargetModeResult, 'haproxy')), 'no baseline measured: no ratio');
});

t.test('the table has one row per key type, mode and server, with median (min–max) and the ratio', async (t) => {
  const table = comparisonTable(comparison);
  const rows = table.split('\n').filter((l) => /^\| (ECDSA|RSA)/.test(l));
  t.equal(rows.length, 6);
  t.match(
    rows[0],
    /^\| ECDSA P-256 \| full \| sigil-sidecar \| 550 \(500–600\) \|.*\| 579 \(526–632\) \| 1\.37× \| 0\.0 % \|/,
  );
  t.match(rows[2], /^\| ECDSA P-256 \| resumed \| sigil-sidecar \|.*\| 100\.0 % \|/);
  t.match(rows[5], /^\| RSA-2048 \| full \| nginx \|.*\| 1\.00× \|/);
  t.match(table, /median \(min–max\) of 3 runs of 2 s/);
  t.match(table, /commit abc1234/);
});

t.test('the chart groups by key type and mode, one bar per server, in handshakes per server CPU-second', async (t) => {
  const chart = comparisonChart(comparison);
  t.same(
    chart.groups.map((g) => g.label),
    [
      'ECDSA P-256, full handshakes',
      'ECDSA P-256, resumed handshakes',
      'RSA-2048, full handshakes',
      'RSA-2048, resumed handshakes',
    ],
  );
  t.same(chart.groups[0]?.bars, [
    { series: 'sigil-sidecar', value: 578.9 },
    { series: 'nginx', value: 421.1 },
  ]);
  t.same(chart.groups[3]?.bars, [], 'a mode not measured has no bars');
});
