import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { SigilError } from '../../common/errors.ts';

/** Writes a results file, creating its folder. */
export function writeResultJson(path: string, result: unknown): void {
  mkdirSync(dirname(resolve(path)), { recursive: true });
  writeFileSync(resolve(path), `${JSON.stringify(result, null, 2)}\n`);
}

/**
 * Runs a benchmark's main and exits explicitly either way: runs are bounded, and nothing they started may keep the
 * process alive after. A failure prints one line with its code.
 */
export function runBenchMain(name: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      const code = err instanceof SigilError ? `${err.code}: ` : '';
      process.stderr.write(`bench/${name} failed: ${code}${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
