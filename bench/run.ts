// `npm run bench -- <name> [options]` and `sigil bench <name> [options]`: runs one benchmark of bench/ and returns
// its exit code. The handshake comparison and the proxy benchmark run in this process; the others are the scripts
// they always were, run as a child process on the same Node.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SigilError } from '../common/errors.ts';
import { benchUsage, isBenchmarkName, type BenchmarkName } from './bench-catalogue.ts';

export interface BenchIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

const defaultIo: BenchIo = { stdout: process.stdout, stderr: process.stderr };

async function runInProcess(name: 'handshake' | 'proxy', args: readonly string[], io: BenchIo): Promise<void> {
  if (name === 'handshake') {
    const { comparisonOptionsFromArgs, runHandshakeComparison } = await import('./handshake-comparison.ts');
    const { table } = await runHandshakeComparison(comparisonOptionsFromArgs(args));
    io.stdout.write(`${table}\n`);
    return;
  }
  const { proxyOptionsFromArgs, runProxyBench } = await import('./proxy.ts');
  const { proxyTable } = await import('./proxy/proxy-results.ts');
  const { writeResultJson } = await import('./lib/bench-main.ts');
  const options = proxyOptionsFromArgs(args);
  const result = await runProxyBench(options);
  io.stdout.write(`${proxyTable(result)}\n`);
  writeResultJson(options.json, result);
}

function runScript(name: BenchmarkName, args: readonly string[]): Promise<number> {
  const script = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: 'inherit' });
    child.once('error', () => resolve(1));
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

/** Runs benchmark `name`; 0 on success, 1 on failure (the reason printed with its code), 2 for a usage error. */
export async function runBench(
  name: string | undefined,
  args: readonly string[],
  io: BenchIo = defaultIo,
): Promise<number> {
  if (!isBenchmarkName(name)) {
    if (name !== undefined && name !== '--help' && name !== '-h')
      io.stderr.write(`unknown benchmark ${JSON.stringify(name)}\n`);
    io.stderr.write(benchUsage());
    return name === '--help' || name === '-h' ? 0 : 2;
  }
  try {
    if (name === 'handshake' || name === 'proxy') {
      await runInProcess(name, args, io);
      return 0;
    }
    return await runScript(name, args);
  } catch (err) {
    const code = err instanceof SigilError ? `${err.code}: ` : '';
    io.stderr.write(`bench ${name} failed: ${code}${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

if (import.meta.main) {
  const [name, ...args] = process.argv.slice(2);
  void runBench(name, args).then((code) => process.exit(code));
}
