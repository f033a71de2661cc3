import t from 'tap';
import { BENCHMARKS } from './bench-catalogue.ts';
import { runBench } from './run.ts';

function io() {
  const text = { out: '', err: '' };
  return { text, stdout: { write: (s: string) => (text.out += s) }, stderr: { write: (s: string) => (text.err += s) } };
}

t.test('without a known name the runner prints every benchmark and exits 2; --help exits 0', async (t) => {
  const none = io();
  t.equal(await runBench(undefined, [], none), 2);
  for (const name of Object.keys(BENCHMARKS)) t.match(none.text.err, new RegExp(`\\n {2}${name} `), name);
  const unknown = io();
  t.equal(await runBench('envoy', [], unknown), 2);
  t.match(unknown.text.err, /unknown benchmark "envoy"/);
  t.equal(await runBench('--help', [], io()), 0);
});

t.test('a bad option fails the benchmark before anything starts, with its error code', async (t) => {
  const bad = io();
  t.equal(await runBench('proxy', ['--runs', '0'], bad), 1);
  t.match(bad.text.err, /bench proxy failed: SIGIL_ERR_INVALID_ARGUMENT: --runs must be a positive number/);
  const badTarget = io();
  t.equal(await runBench('handshake', ['--targets', 'envoy'], badTarget), 1);
  t.match(badTarget.text.err, /unknown target "envoy"/);
});
