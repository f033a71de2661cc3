import type { MemorySample } from './process-memory.ts';

export interface CliTiming {
  readonly command: string;
  /** Median wall time over the runs, milliseconds. */
  readonly medianMs: number;
  readonly runs: number;
}

export interface FootprintResult {
  readonly benchmark: 'footprint';
  readonly date: string;
  readonly commit: string;
  readonly node: string;
  readonly connections: number;
  /** A bare Node process idling: what any Node program pays before its own code. */
  readonly bareNode: MemorySample;
  readonly controlPlane: { readonly readyMs: number; readonly idle: MemorySample };
  readonly sidecar: { readonly readyMs: number; readonly idle: MemorySample; readonly withConnections: MemorySample };
  /** The same sidecar started with a small young generation (the V8 flag in nodeFlags). */
  readonly sidecarSmallYoungGeneration: FootprintResult['sidecar'] & { readonly nodeFlags: readonly string[] };
  /** The same connections (same client, same app behind) held by the baselines, RSS of all their processes. */
  readonly baselines: Record<string, { readonly idle: MemorySample; readonly withConnections: MemorySample }>;
  readonly cli: readonly CliTiming[];
}

const mb = (bytes: number | undefined) => (bytes === undefined ? '–' : (bytes / 2 ** 20).toFixed(1));
const ratio = (value: number, reference: number) => `${(value / reference).toFixed(2)}x`;

/** The Markdown table of one run: memory in MiB with ratios to the same-run references, then CLI wall times. */
export function footprintTable(r: FootprintResult): string {
  const nginx = r.baselines['nginx']?.withConnections.rssBytes;
  const rows = [
    '| process | state | RSS MiB | heap used MiB | vs bare Node | vs nginx (same connections) | start to ready |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    `| bare Node ${r.node} | idle | ${mb(r.bareNode.rssBytes)} | ${mb(r.bareNode.heapUsedBytes)} | 1.00x | | |`,
    `| control plane (dist) | idle | ${mb(r.controlPlane.idle.rssBytes)} | ${mb(r.controlPlane.idle.heapUsedBytes)} | ${ratio(r.controlPlane.idle.rssBytes, r.bareNode.rssBytes)} | | ${r.controlPlane.readyMs.toFixed(0)} ms |`,
    `| sidecar (dist) | idle | ${mb(r.sidecar.idle.rssBytes)} | ${mb(r.sidecar.idle.heapUsedBytes)} | ${ratio(r.sidecar.idle.rssBytes, r.bareNode.rssBytes)} | | ${r.sidecar.readyMs.toFixed(0)} ms |`,
    `| sidecar (dist) | ${r.connections} mTLS connections | ${mb(r.sidecar.withConnections.rssBytes)} | ${mb(r.sidecar.withConnections.heapUsedBytes)} | ${ratio(r.sidecar.withConnections.rssBytes, r.bareNode.rssBytes)} | ${nginx ? ratio(r.sidecar.withConnections.rssBytes, nginx) : '–'} | |`,
  ];
  const small = r.sidecarSmallYoungGeneration;
  const flags = small.nodeFlags.join(' ');
  rows.push(
    `| sidecar (dist, \`${flags}\`) | idle | ${mb(small.idle.rssBytes)} | ${mb(small.idle.heapUsedBytes)} | ${ratio(small.idle.rssBytes, r.bareNode.rssBytes)} | | ${small.readyMs.toFixed(0)} ms |`,
    `| sidecar (dist, \`${flags}\`) | ${r.connections} mTLS connections | ${mb(small.withConnections.rssBytes)} | ${mb(small.withConnections.heapUsedBytes)} | ${ratio(small.withConnections.rssBytes, r.bareNode.rssBytes)} | ${nginx ? ratio(small.withConnections.rssBytes, nginx) : '–'} | |`,
  );
  for (const [name, b] of Object.entries(r.baselines)) {
    rows.push(`| ${name} | idle | ${mb(b.idle.rssBytes)} | | | | |`);
    rows.push(
      `| ${name} | ${r.connections} mTLS connections | ${mb(b.withConnections.rssBytes)} | | | ${nginx ? ratio(b.withConnections.rssBytes, nginx) : '–'} | |`,
    );
  }
  const reference = r.cli.find((c) => c.command.startsWith('node -e'))?.medianMs;
  const cli = [
    '',
    '| command | median wall time | vs `node -e 0` |',
    '| --- | ---: | ---: |',
    ...r.cli.map(
      (c) => `| \`${c.command}\` | ${c.medianMs.toFixed(0)} ms | ${reference ? ratio(c.medianMs, reference) : ''} |`,
    ),
  ];
  return [...rows, ...cli].join('\n');
}
