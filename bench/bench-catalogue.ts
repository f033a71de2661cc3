/** The benchmarks `npm run bench -- <name>` and `sigil bench <name>` run, with what each measures. */
export const BENCHMARKS = {
  footprint:
    'memory (RSS, heap) of the control plane and a sidecar idle and with 1,000 mTLS connections vs nginx and HAProxy, start-up and CLI times',
  handshake:
    'full and resumed TLS 1.3 mTLS handshakes, ECDSA and RSA: Sigil sidecar vs nginx, HAProxy, a Go crypto/tls proxy and bare node:tls (about 5 min)',
  proxy: 'keep-alive request latency (p50/p99) and throughput at 1 and 16 connections through the same servers',
  mesh: 'CPU per new connection and per request through outbound → inbound proxy: Sigil sidecars, Go and nginx pairs, resumption on and off (under 5 min)',
  issuance: 'SVIDs issued per second per core through the control plane',
  propagation: 'signed events, publish to applied, for many subscribers; revoke to enforced',
  'revocation-check': 'the per-handshake cost of the revocation check, 100,000 revoked serials vs none',
  'policy-decision': 'one allow-policy decision, 10,000 policies next to 10',
  slowloris:
    'an inbound listener under 10,000 half-open handshakes from one source: legitimate handshakes from another, memory idle/during/after, bounded vs unbounded',
  'event-flood': 'new-connection latency (p50/p99) through a sidecar, idle vs during a flood of forged events on NATS',
} as const;

export type BenchmarkName = keyof typeof BENCHMARKS;

export function isBenchmarkName(name: string | undefined): name is BenchmarkName {
  return name !== undefined && Object.hasOwn(BENCHMARKS, name);
}

export function benchUsage(): string {
  const width = Math.max(...Object.keys(BENCHMARKS).map((n) => n.length));
  return [
    'usage: npm run bench -- <name> [options]   (or: sigil bench <name> [options])',
    '',
    ...Object.entries(BENCHMARKS).map(([name, what]) => `  ${name.padEnd(width)}  ${what}`),
    '',
    'Each prints a Markdown table and writes its results to bench/results/; options are described in bench/README.md.',
    '',
  ].join('\n');
}
