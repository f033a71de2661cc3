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
  /** The same control plane with SIGIL_CONTROL_PLANE_NODE_FLAGS empty: without the V8 flags it relaunches with. */
  readonly controlPlaneWithoutNodeFlags: FootprintResult['controlPlane'];
  readonly sidecar: { readonly readyMs: number; readonly idle: MemorySample; readonly withConnections: MemorySample };
  /** The same sidecar with SIGIL_SIDECAR_NODE_FLAGS empty: without the V8 flags it relaunches with. */
  readonly sidecarWithoutNodeFlags: FootprintResult['sidecar'];
  /** The sidecar with `nats` configured, idle: it runs the event verifier thread. Absent from runs before it. */
  readonly sidecarWithNats?: { readonly readyMs: number; readonly idle: MemorySample };
  /** The same connections (same client, same app behind) held by the baselines, RSS of all their processes. */
  readonly baselines: Record<string, { readonly idle: MemorySample; readonly withConnections: MemorySample }>;
  readonly cli: readonly CliTiming[];
}

const mb = (bytes: number | undefined) => (bytes === undefined ? '–' : (bytes / 2 ** 20).toFixed(1));
const ratio = (value: number, reference: number) => `${(value / reference).toFixed(2)}x`;

/** The Markdown table of one run: memory in MiB with ratios to the same-run references, then CLI wall times. */
export function footprintTable(r: FootprintResult): string {
  const nginx = r.baselines['nginx']?.withConnections.rssBytes;
  const bare = r.bareNode.rssBytes;
  const row = (name: string, state: string, m: MemorySample, readyMs?: number, vsNginx?: boolean) =>
    `| ${name} | ${state} | ${mb(m.rssBytes)} | ${mb(m.heapUsedBytes)} | ${ratio(m.rssBytes, bare)} | ${vsNginx && nginx ? ratio(m.rssBytes, nginx) : ''} | ${readyMs === undefined ? '' : `${readyMs.toFixed(0)} ms`} |`;
  const held = `${r.connections} mTLS connections`;
  const plainCp = r.controlPlaneWithoutNodeFlags;
  const plainSidecar = r.sidecarWithoutNodeFlags;
  const rows = [
    '| process | state | RSS MiB | heap used MiB | vs bare Node | vs nginx (same connections) | start to ready |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    row(`bare Node ${r.node}`, 'idle', r.bareNode),
    row('control plane (dist)', 'idle', r.controlPlane.idle, r.controlPlane.readyMs),
    row('control plane (dist, without the V8 flags)', 'idle', plainCp.idle, plainCp.readyMs),
    row('sidecar (dist)', 'idle', r.sidecar.idle, r.sidecar.readyMs),
    row('sidecar (dist)', held, r.sidecar.withConnections, undefined, true),
    row('sidecar (dist, without the V8 flags)', 'idle', plainSidecar.idle, plainSidecar.readyMs),
    row('sidecar (dist, without the V8 flags)', held, plainSidecar.withConnections, undefined, true),
  ];
  if (r.sidecarWithNats)
    rows.push(
      row(
        'sidecar (dist, with NATS: event verifier thread)',
        'idle',
        r.sidecarWithNats.idle,
        r.sidecarWithNats.readyMs,
      ),
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
