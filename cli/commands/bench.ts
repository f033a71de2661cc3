import { Argument, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { BENCHMARKS } from '../../bench/bench-catalogue.ts';
import type { CliIo } from '../io.ts';
import { repositoryRoot } from '../repository-root.ts';

interface BenchRunner {
  runBench(name: string, options: readonly string[], io: CliIo): Promise<number>;
}

/**
 * The runner is the TypeScript in the repository's bench/, also when the CLI runs from dist/: benchmarks are a
 * development tool that starts children by their source paths, and the build leaves them out (a computed path, so
 * the compiler does not follow it into the build).
 */
async function loadRunner(): Promise<BenchRunner> {
  const path = join(repositoryRoot(), 'bench', 'run.ts');
  if (!existsSync(path))
    throw new SigilError(
      ErrorCode.UNAVAILABLE,
      `benchmarks run from the source repository, and ${path} is not there (a production image has no bench/): run them from a clone`,
    );
  return (await import(pathToFileURL(path).href)) as BenchRunner;
}

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
      const code = await (await loadRunner()).runBench(name, options, io);
      if (code !== 0)
        throw new SigilError(ErrorCode.UNAVAILABLE, `benchmark ${name} failed (exit ${code}); the reason is above`);
    });
}
