import t from 'tap';
import { runCli } from '../program.ts';
import type { CliIo } from '../io.ts';

function io(): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: {},
    cwd: process.cwd(),
    out: () => out,
    err: () => err,
  };
}

t.test('sigil bench names the benchmarks and refuses an unknown one as a usage error', async (t) => {
  const help = io();
  t.equal(await runCli(['bench', '--help'], help), 0);
  t.match(help.out(), /handshake/);
  t.match(help.out(), /propagation/);
  const wrong = io();
  t.equal(await runCli(['bench', 'envoy'], wrong), 2);
  t.match(wrong.err(), /'envoy' is invalid/);
  t.equal(await runCli(['bench'], io()), 2, 'a name is required');
});

t.test('options after the name reach the benchmark, whose own usage errors fail the command', async (t) => {
  const bad = io();
  t.equal(await runCli(['bench', 'handshake', '--key-types', 'dsa-1024'], bad), 1);
  t.match(bad.err(), /dsa-1024/, 'the benchmark parsed the option and said what was wrong');
});
