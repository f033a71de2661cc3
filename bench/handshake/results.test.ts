import t from 'tap';
import { diffCounts, sumCounts } from './load-client.ts';
import { figuresOf, summarizeFigures, type WindowSample } from './measure-window.ts';
import { computeRatios, notesOf, type TargetModeResult } from './results.ts';

const sample = (over: Partial<WindowSample> = {}): WindowSample => ({
  seconds: 10,
  handshakes: 5000,
  resumed: 0,
  failed: {},
  serverCpuMs: 9000,
  auxCpuMs: Number.NaN,
  clientCpuMs: 9500,
  ...over,
});

function result(target: string, mode: 'full' | 'resumed', runs: WindowSample[]): TargetModeResult {
  return { target, mode, runs, ...summarizeFigures(runs.map(figuresOf)) };
}

t.test('figures of one window', async (t) => {
  const f = figuresOf(sample({ resumed: 4000, failed: { ECONNRESET: 50 }, auxCpuMs: 1000 }));
  t.equal(f.handshakesPerSecond, 500);
  t.equal(f.serverCpuUsPerHandshake, 1800);
  t.equal(f.handshakesPerServerCpuSecond, 555.6);
  t.equal(f.serverCores, 0.9);
  t.equal(f.auxCpuUsPerHandshake, 200);
  t.equal(f.clientCpuUsPerHandshake, 1900);
  t.equal(f.resumptionRate, 0.8);
  t.equal(f.failureRate, 0.0099);
  t.ok(Number.isNaN(figuresOf(sample()).auxCpuUsPerHandshake), 'no helper process: no app figure');
});

t.test('each figure is summarised on its own: median, min and max over the runs', async (t) => {
  const s = summarizeFigures(
    [sample({ handshakes: 3000 }), sample({ handshakes: 6000 }), sample({ handshakes: 5000 })].map(figuresOf),
  );
  t.equal(s.median.handshakesPerSecond, 500);
  t.equal(s.min.handshakesPerSecond, 300);
  t.equal(s.max.handshakesPerSecond, 600);
  t.equal(s.median.serverCpuUsPerHandshake, 1800);
});

t.test('ratios are taken against the baseline in the same mode', async (t) => {
  const results = [
    result('sidecar', 'full', [sample({ handshakes: 4000, serverCpuMs: 8000 })]),
    result('bare', 'full', [sample({ handshakes: 5000, serverCpuMs: 8000 })]),
    result('sidecar', 'resumed', [sample({ handshakes: 9000 })]),
  ];
  t.same(computeRatios(results, 'bare'), [
    { target: 'sidecar', baseline: 'bare', mode: 'full', handshakesPerSecond: 0.8, handshakesPerServerCpuSecond: 0.8 },
  ]);
});

t.test('notes flag an unsaturated server, failures and resumption that did not happen', async (t) => {
  const cases: { name: string; result: TargetModeResult; expect: RegExp | undefined }[] = [
    { name: 'saturated, clean', result: result('s', 'full', [sample()]), expect: undefined },
    {
      name: 'client-bound',
      result: result('s', 'full', [sample({ serverCpuMs: 5000 })]),
      expect: /server core was not saturated \(server 0\.5 of it busy/,
    },
    {
      name: 'proxy with its app on the core',
      result: result('s', 'full', [sample({ serverCpuMs: 8000, auxCpuMs: 1000 })]),
      expect: undefined,
    },
    {
      name: 'proxy and app below saturation',
      result: result('s', 'full', [sample({ serverCpuMs: 6000, auxCpuMs: 1000 })]),
      expect: /server 0\.6 \+ app 0\.1 of it busy/,
    },
    {
      name: 'failures',
      result: result('s', 'full', [sample({ failed: { no_byte: 10 } })]),
      expect: /failed \(no_byte ×10\)/,
    },
    {
      name: 'no resumption',
      result: result('s', 'resumed', [sample({ resumed: 0 })]),
      expect: /only 0.0 % of handshakes resumed/,
    },
    { name: 'resumed', result: result('s', 'resumed', [sample({ resumed: 5000 })]), expect: undefined },
  ];
  for (const c of cases) {
    const notes = notesOf([c.result]);
    if (c.expect) t.match(notes.join('\n'), c.expect, c.name);
    else t.same(notes, [], c.name);
  }
});

t.test('worker counts add up and diff per error code', async (t) => {
  const total = sumCounts([
    { handshakes: 3, resumed: 1, failed: { a: 1 } },
    { handshakes: 4, resumed: 2, failed: { a: 2, b: 1 } },
  ]);
  t.same(total, { handshakes: 7, resumed: 3, failed: { a: 3, b: 1 } });
  t.same(diffCounts({ handshakes: 2, resumed: 1, failed: { a: 3 } }, total), {
    handshakes: 5,
    resumed: 2,
    failed: { b: 1 },
  });
});
