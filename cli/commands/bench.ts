import { Argument, type Command } from 'commander';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { BENCHMARKS } from '../../bench/bench-catalogue.ts';
import type { CliIo } from '../io.ts';

/**
 * `sigil bench <name> [options]`: the benchmarks of bench/ (see bench/README.md), the same as
 * `npm run bench -- <name>`. The runner is imported only when a benchmark runs: it needs the repository's bench/
 * directory and starts servers, which no other command should pay for.
 */
export function registerBenchCommands(program: Command, io: CliIo): void {
  program
    .command('bench')
    .description(
      'run a benchmark: prints a Markdown table and writes bench/results/ (options after the name go to the benchmark)',
    )
    .addArgument(
      new Argument('<name>', 'which benchmark (bench/README.md says what each measures)').choices(
        Object.keys(BENCHMARKS),
      ),
    )
    .argument('[options...]', 'passed to the benchmark, e.g. --runs 3 --seconds 2')
    .allowUnknownOption()
    .action(async (name: string, options: string[]) => {
      const { runBench } = await import('../../bench/run.ts');
      const code = await runBench(name, options, io);
      if (code !== 0)
        throw new SigilError(ErrorCode.UNAVAILABLE, `benchmark ${name} failed (exit ${code}); the reason is above`);
    });
}
