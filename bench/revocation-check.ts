// The per-handshake cost of the sidecar's revocation check, with 100,000 revoked serials against none, in one run:
// (i) RevocationState.authorize alone, ns per call; (ii) full TLS 1.3 mTLS handshakes per second and per server
// CPU-second through the sidecar's InboundListener whose authorizePeer is that check, via bench/handshake's runner
// (server pinned to core 0, load clients on the others, /proc CPU, medians of several runs).
// Run: `npx node bench/revocation-check.ts [--check-seconds 2] [--seconds 5] [--warmup 1] [--runs 3] [--revoked 100000]
//       [--json PATH] [--deadline-seconds 115]`. Writes bench/results/revocation-check.json. Linux only (/proc).
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ErrorCode, SigilError } from '../common/errors.ts';
import { runHandshakeBench } from './handshake.ts';
import { handshakeTable, type HandshakeBenchResult } from './handshake/results.ts';
import { measureCheckCost, type CheckCostResult } from './revocation-check/check-cost.ts';
import { revocationListenerTarget, type ListenerStats } from './revocation-check/revocation-target.ts';
import { positive } from './lib/run-info.ts';
import { runBenchMain, writeResultJson } from './lib/bench-main.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_REVOCATION_CHECK_JSON = join(ROOT, 'bench', 'results', 'revocation-check.json');

export interface RevocationCheckOptions {
  /** Revoked serials in the loaded state. Default 100,000. */
  readonly revoked?: number;
  /** Policies of a third target (revocation + policy, as the sidecar's inbound runs them). Default 10,000; 0 skips it. */
  readonly policies?: number;
  /** Measured time per case of the authorize loop. Default 2. */
  readonly checkSeconds?: number;
  /** Handshake window per run. Default 5. */
  readonly windowSeconds?: number;
  readonly warmupSeconds?: number;
  /** Runs per target; the table shows medians. Default 3. */
  readonly runs?: number;
  /** Wall-clock bound of the whole run; past it every child is killed. Default 115 s. */
  readonly deadlineMs?: number;
  readonly log?: (line: string) => void;
}

export interface RevocationCheckResult {
  readonly benchmark: 'revocation-check';
  readonly date: string;
  readonly node: string;
  readonly cores: number;
  readonly revokedSerials: number;
  readonly check: CheckCostResult;
  readonly handshake: HandshakeBenchResult;
  /** What each listener reported at stop: it ran the check once per connection, and refused none. */
  readonly listeners: Readonly<Record<string, ListenerStats | undefined>>;
}

export async function runRevocationCheckBench(options: RevocationCheckOptions = {}): Promise<RevocationCheckResult> {
  const started = performance.now();
  const revoked = Math.floor(positive('--revoked', options.revoked ?? 100_000));
  const deadlineMs = options.deadlineMs ?? 170_000;
  const policyCount = Math.floor(options.policies ?? 10_000);
  const log = options.log ?? (() => undefined);
  const check = measureCheckCost(positive('--check-seconds', options.checkSeconds ?? 2) * 1000, revoked);
  log(`authorize: ${check.cases.map((c) => `${c.case} ${c.nsPerCall} ns`).join('; ')}`);
  const remainingMs = deadlineMs - (performance.now() - started);
  if (remainingMs < 20_000)
    throw new SigilError(
      ErrorCode.DEADLINE_EXCEEDED,
      `only ${Math.round(remainingMs / 1000)} s left for the handshakes: raise --deadline-seconds or lower --check-seconds`,
    );
  const targets = [
    revocationListenerTarget(0),
    revocationListenerTarget(revoked),
    ...(policyCount > 0 ? [revocationListenerTarget(0, policyCount)] : []),
  ];
  const handshake = await runHandshakeBench({
    targets,
    baseline: targets[0]?.name ?? '',
    modes: ['full'],
    runs: options.runs ?? 3,
    windowSeconds: options.windowSeconds ?? 5,
    warmupSeconds: options.warmupSeconds ?? 1,
    // bench/handshake's runner kills its servers and clients itself when this passes.
    deadlineMs: remainingMs,
    log,
  });
  return {
    benchmark: 'revocation-check',
    date: new Date().toISOString(),
    node: process.versions.node,
    cores: availableParallelism(),
    revokedSerials: revoked,
    check,
    handshake,
    listeners: Object.fromEntries(targets.map((t) => [t.name, t.stats()])),
  };
}

export function revocationCheckTable(result: RevocationCheckResult): string {
  const { check } = result;
  return [
    `RevocationState.authorize alone, ${check.windowMs / 1000} s per case (two interleaved halves), Node ${result.node}:`,
    '',
    '| case | revoked serials | calls | ns / call |',
    '| --- | ---: | ---: | ---: |',
    ...check.cases.map((c) => `| ${c.case} | ${c.revokedSerials} | ${c.calls} | ${c.nsPerCall} |`),
    '',
    `ratio ${result.revokedSerials} / empty (peer not revoked): ${check.ratio}×; loading ${result.revokedSerials} serials (replace): ${check.replaceMs} ms; ` +
      `one revocation applied on top (applyDelta copies the set): ${check.applyDeltaMs} ms`,
    '',
    handshakeTable(result.handshake),
    '',
    `listener checks at stop: ${Object.entries(result.listeners)
      .map(([name, s]) =>
        s ? `${name} ${s.checks} checks, ${s.refused} refused, ${s.revokedSerials} serials loaded` : `${name} no stats`,
      )
      .join('; ')}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      revoked: { type: 'string', default: '100000' },
      policies: { type: 'string', default: '10000' },
      'check-seconds': { type: 'string', default: '2' },
      seconds: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      runs: { type: 'string', default: '3' },
      json: { type: 'string', default: DEFAULT_REVOCATION_CHECK_JSON },
      'deadline-seconds': { type: 'string', default: '170' },
    },
  });
  const result = await runRevocationCheckBench({
    revoked: Number(values.revoked),
    policies: Number(values.policies),
    checkSeconds: Number(values['check-seconds']),
    windowSeconds: Number(values.seconds),
    warmupSeconds: Number(values.warmup),
    runs: Number(values.runs),
    deadlineMs: positive('--deadline-seconds', Number(values['deadline-seconds'])) * 1000,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${revocationCheckTable(result)}\n`);
  writeResultJson(values.json, result);
}

if (import.meta.main) runBenchMain('revocation-check', main);
