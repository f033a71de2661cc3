import t from 'tap';
import { Command } from 'commander';
import { PassThrough } from 'node:stream';
import { buildProgram, COMMAND_MODULES } from './program.ts';
import type { CliIo } from './io.ts';

const io = (): CliIo => ({ stdout: new PassThrough(), stderr: new PassThrough(), env: {}, cwd: process.cwd() });
const topLevel = (program: Command) => program.commands.map((c) => c.name());

t.test('each command module adds exactly the top-level commands listed for it', async (t) => {
  for (const module of COMMAND_MODULES) {
    const program = new Command('sigil');
    (await module.load())(program, io());
    t.same(topLevel(program), module.names, module.names.join(', '));
  }
});

t.test('a named command loads its module alone; anything else loads every module', async (t) => {
  const all = COMMAND_MODULES.flatMap((m) => m.names);
  t.same(topLevel(await buildProgram(io(), ['--help'])), all, '--help');
  t.same(topLevel(await buildProgram(io(), ['help', 'certs'])), all, 'help');
  t.same(topLevel(await buildProgram(io(), ['cert', 'list'])), all, 'a misspelt command gets every suggestion');
  t.same(topLevel(await buildProgram(io(), ['certs', 'list'])), ['certs']);
  t.same(topLevel(await buildProgram(io(), ['unrevoke', '--serial', 'x'])), ['revoke', 'unrevoke']);
});
