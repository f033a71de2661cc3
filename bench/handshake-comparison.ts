// The comparison issue 8 asks for, in one run: full and resumed TLS 1.3 mTLS handshakes through the Sigil sidecar,
// a bare node:tls server, nginx (1 worker) and HAProxy (1 thread), with ECDSA P-256 and with RSA-2048 SVIDs, the Go
// load client, ratios to nginx. Writes bench/results/handshake-comparison.{json,md,svg} and prints the table.
// Run: `npm run bench -- handshake [--seconds 2] [--warmup 1] [--runs 3] [--key-types ec-p256,rsa-2048]
//       [--targets ...] [--baseline nginx] [--concurrency 16] [--out-dir bench/results]`.
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseKeyType, type KeyType } from '../common/key-type.ts';
import { runHandshakeBench } from './handshake.ts';
import { comparisonChart, comparisonTable, type HandshakeComparison } from './handshake/comparison-report.ts';
import { COMPARISON_BASELINE, COMPARISON_TARGETS, selectTargets } from './handshake/target-registry.ts';
import type { HandshakeTarget } from './handshake/targets.ts';
import { barChartSvg } from './lib/bar-chart-svg.ts';
import { runBenchMain, writeResultJson } from './lib/bench-main.ts';
import { commitOf, positive } from './lib/run-info.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_RESULTS_DIR = join(ROOT, 'bench', 'results');

export interface ComparisonOptions {
  readonly keyTypes: readonly KeyType[];
  readonly windowSeconds: number;
  readonly warmupSeconds: number;
  readonly runs: number;
  readonly concurrency?: number;
  readonly targets: readonly HandshakeTarget[];
  readonly baseline: string;
  readonly outDir: string;
  readonly log: (line: string) => void;
}

export function comparisonOptionsFromArgs(args: readonly string[]): ComparisonOptions {
  const { values } = parseArgs({
    args: [...args],
    options: {
      seconds: { type: 'string', default: '2' },
      warmup: { type: 'string', default: '1' },
      runs: { type: 'string', default: '3' },
      'key-types': { type: 'string', default: 'ec-p256,rsa-2048' },
      targets: { type: 'string', default: COMPARISON_TARGETS.map((t) => t.name).join(',') },
      baseline: { type: 'string', default: COMPARISON_BASELINE },
      concurrency: { type: 'string' },
      'out-dir': { type: 'string', default: DEFAULT_RESULTS_DIR },
    },
  });
  return {
    keyTypes: values['key-types'].split(',').map((k) => parseKeyType(k.trim())),
    windowSeconds: positive('--seconds', Number(values.seconds)),
    warmupSeconds: Number(values.warmup),
    runs: positive('--runs', Number(values.runs)),
    ...(values.concurrency === undefined ? {} : { concurrency: positive('--concurrency', Number(values.concurrency)) }),
    targets: selectTargets(values.targets),
    baseline: values.baseline,
    outDir: values['out-dir'],
    log: (line) => process.stderr.write(`${line}\n`),
  };
}

/** Runs the handshake benchmark once per key type and writes the JSON, the Markdown table and the SVG chart. */
export async function runHandshakeComparison(
  options: ComparisonOptions,
): Promise<{ comparison: HandshakeComparison; table: string }> {
  const byKeyType = [];
  for (const keyType of options.keyTypes) {
    byKeyType.push(
      await runHandshakeBench({
        keyType,
        client: 'go',
        targets: options.targets,
        baseline: options.baseline,
        windowSeconds: options.windowSeconds,
        warmupSeconds: options.warmupSeconds,
        runs: options.runs,
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
        log: options.log,
      }),
    );
  }
  const comparison: HandshakeComparison = {
    benchmark: 'handshake-comparison',
    date: new Date().toISOString(),
    commit: byKeyType[0]?.commit ?? commitOf(),
    baseline: options.baseline,
    byKeyType,
  };
  const table = comparisonTable(comparison);
  writeResultJson(join(options.outDir, 'handshake-comparison.json'), comparison);
  writeFileSync(join(options.outDir, 'handshake-comparison.md'), `${table}\n`);
  writeFileSync(join(options.outDir, 'handshake-comparison.svg'), barChartSvg(comparisonChart(comparison)));
  return { comparison, table };
}

async function main(): Promise<void> {
  const { table } = await runHandshakeComparison(comparisonOptionsFromArgs(process.argv.slice(2)));
  process.stdout.write(`${table}\n`);
}

if (import.meta.main) runBenchMain('handshake-comparison', main);
