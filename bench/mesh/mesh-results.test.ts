import t from 'tap';
import { summarizeFigures } from '../handshake/measure-window.ts';
import {
  computeMeshRatios,
  meshFiguresOf,
  meshNotes,
  meshTable,
  type MeshBenchResult,
  type MeshCaseResult,
  type MeshLoad,
  type MeshSample,
} from './mesh-results.ts';

const sample = (over: Partial<MeshSample> = {}): MeshSample => ({
  seconds: 2,
  operations: 1000,
  failed: {},
  proxyCpuMs: 1600,
  appCpuMs: 200,
  clientCpuMs: 500,
  sessions: 1000,
  resumed: 990,
  ...over,
});

const result = (path: string, load: MeshLoad, runs: MeshSample[]): MeshCaseResult => ({
  path,
  load,
  runs,
  ...summarizeFigures(runs.map(meshFiguresOf)),
});

t.test('figures are per client operation, with both proxies CPU together', async (t) => {
  const f = meshFiguresOf(sample({ failed: { timeout: 10 } }));
  t.equal(f.operationsPerSecond, 500);
  t.equal(f.proxyCpuUsPerOperation, 1600, '1.6 s of proxy CPU over 1,000 connections');
  t.equal(f.proxyCores, 0.8);
  t.equal(f.appCpuUsPerOperation, 200);
  t.equal(f.appCores, 0.1);
  t.equal(f.resumedShare, 0.99);
  t.equal(f.sessionsPerOperation, 1);
  t.equal(f.failureRate, 0.0099, '10 failed of 1,010 attempted');
  const idle = meshFiguresOf(sample({ operations: 0, sessions: 0, resumed: 0 }));
  t.ok(Number.isNaN(idle.proxyCpuUsPerOperation), 'no operation: no cost per operation');
  t.ok(Number.isNaN(idle.resumedShare), 'no session: no share, not 0 %');
});

const results = [
  result('sigil-resumption', 'connections', [sample({ proxyCpuMs: 1000 }), sample({ proxyCpuMs: 1200 }), sample()]),
  result('sigil-resumption', 'requests', [sample({ operations: 20_000, proxyCpuMs: 1000, sessions: 0, resumed: 0 })]),
  result('nginx-session-reuse', 'connections', [sample({ proxyCpuMs: 1500, resumed: 900 })]),
  result('nginx-session-reuse', 'requests', [sample({ operations: 20_000, proxyCpuMs: 800, sessions: 0, resumed: 0 })]),
];

t.test('ratios compare the median proxy CPU per operation with the baseline path, load by load', async (t) => {
  t.same(computeMeshRatios(results, 'nginx-session-reuse'), [
    { path: 'sigil-resumption', baseline: 'nginx-session-reuse', load: 'connections', proxyCpuPerOperation: 0.8 },
    { path: 'sigil-resumption', baseline: 'nginx-session-reuse', load: 'requests', proxyCpuPerOperation: 1.25 },
  ]);
  t.same(computeMeshRatios(results, 'haproxy'), [], 'no baseline measured: no ratio');
});

t.test('notes name a resuming path below 95 % and an unsaturated core', async (t) => {
  const notes = meshNotes(results, ['sigil-resumption', 'nginx-session-reuse']);
  t.ok(notes.includes('nginx-session-reuse: only 90.0 % of sessions between the proxies resumed'));
  t.notOk(
    notes.some((n) => n.startsWith('sigil-resumption: only')),
    '99 % resumed is enough',
  );
  t.same(meshNotes([result('go-no-cache', 'connections', [sample({ resumed: 0 })])], []), []);
  const idle = meshNotes([result('x', 'connections', [sample({ proxyCpuMs: 800 })])], []);
  t.match(idle[0], /^x connections: the proxies and the app kept their core 0.5 busy/);
});

t.test('the table has a row per path and load, and a ratio row per path', async (t) => {
  const bench: MeshBenchResult = {
    benchmark: 'mesh',
    date: '2026-12-03T00:00:00Z',
    commit: 'abc1234',
    node: '26.9.0',
    openssl: '3.5.8',
    cores: 2,
    cpuModel: 'test',
    pinning: 'server on core 0, clients on 1 (taskset)',
    targets: [],
    baseline: 'nginx-session-reuse',
    keyType: 'ec-p256',
    settings: { windowSeconds: 2, warmupSeconds: 1, runs: 3, concurrency: 16 },
    results,
    ratios: computeMeshRatios(results, 'nginx-session-reuse'),
    notes: [],
  };
  const lines = meshTable(bench).split('\n');
  t.match(lines[0], /commit abc1234/);
  t.match(
    lines[4],
    /^\| sigil-resumption \| connections \| 500 \(500–500\) \| 1,200 \(1,000–1,600\) \|.*\| 99\.0 % \| 0\.00 % \|$/,
  );
  t.match(lines[5], /^\| sigil-resumption \| requests \|.*\| – \| 0\.00 % \|$/, 'no share for keep-alive requests');
  t.ok(lines.includes('| sigil-resumption | 0.80× | 1.25× |'));
});
