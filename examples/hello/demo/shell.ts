import { relative } from 'node:path';
import { runCommand, sigilLauncher, type CommandResult } from './commands.ts';
import type { DemoProcess, DemoProcesses } from './processes.ts';

export const say = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

const indent = (text: string, prefix = '      '): string =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => `${prefix}${l}`)
    .join('\n');

/** Quotes an argument the way a user would type it in a POSIX shell. */
const quote = (arg: string): string => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`);

/**
 * Runs what a user would type, in the demo's state dir, printing each command before it runs: `sigil …` through the
 * package's launcher (what `npx sigil` runs), the example apps with the same Node.
 */
export class DemoShell {
  readonly #processes: DemoProcesses;
  readonly #env: NodeJS.ProcessEnv;
  readonly #sigil = sigilLauncher();

  constructor(processes: DemoProcesses, env: NodeJS.ProcessEnv) {
    this.#processes = processes;
    this.#env = env;
  }

  get stateDir(): string {
    return this.#processes.stateDir;
  }

  /** `sigil ARGS`; prints its output unless `quiet`, and `> FILE` when the caller keeps stdout in a file. */
  async sigil(
    args: readonly string[],
    options: { quiet?: boolean; redirect?: string; okExitCodes?: readonly number[] } = {},
  ): Promise<CommandResult> {
    say(`    $ sigil ${args.map(quote).join(' ')}${options.redirect ? ` > ${options.redirect}` : ''}`);
    const result = await runCommand(this.#sigil.node, [this.#sigil.script, ...args], {
      cwd: this.#processes.stateDir,
      env: this.#env,
      ...(options.okExitCodes ? { okExitCodes: options.okExitCodes } : {}),
    });
    if (options.quiet !== true && result.stdout.trim() !== '') say(indent(result.stdout));
    if (result.code !== 0) say(`      (exit ${result.code})`);
    return result;
  }

  /** `sigil ARGS &`, its output in logs/NAME.log. */
  startSigil(name: string, args: readonly string[]): DemoProcess {
    say(`    $ sigil ${args.map(quote).join(' ')} > ${this.#logName(name)} 2>&1 &`);
    return this.#processes.start(name, this.#sigil.node, [this.#sigil.script, ...args], this.#env);
  }

  /** `ENV… node SCRIPT &` (an example app or a peer binary), its output in logs/NAME.log. */
  startProgram(
    name: string,
    command: { shown: string; file: string; args?: readonly string[]; env?: Record<string, string> },
  ): DemoProcess {
    const env = command.env ?? {};
    const prefix = Object.entries(env).map(([k, v]) => `${k}=${quote(v)} `);
    say(`    $ ${prefix.join('')}${command.shown} > ${this.#logName(name)} 2>&1 &`);
    return this.#processes.start(name, command.file, command.args ?? [], { ...this.#env, ...env });
  }

  #logName(name: string): string {
    return relative(this.#processes.stateDir, this.#processes.logPath(name));
  }
}
