// The footprint benchmark's soak: new mTLS connections with request round trips through a sidecar for a while,
// sampling its RSS and (after a full GC) its heap, to show whether memory keeps growing under load.
import { connect } from 'node:tls';
import { sampleNode } from './process-memory.ts';
import type { ClientCredentials } from './idle-connections.ts';

export interface SoakSample {
  /** Since the load started, milliseconds. */
  readonly elapsedMs: number;
  readonly connections: number;
  readonly requests: number;
  readonly failures: number;
  readonly rssBytes: number;
  /** Heap in use right after a full GC (the probe collects first when the process runs with --expose-gc). */
  readonly heapUsedBytes?: number | undefined;
}

export interface SoakResult {
  readonly durationMs: number;
  readonly workers: number;
  readonly requestsPerConnection: number;
  readonly samples: readonly SoakSample[];
  /** Mean of the last fifth of the samples minus the mean of the second fifth (the first is warm-up). */
  readonly rssGrowthBytes: number;
  readonly heapGrowthBytes: number | undefined;
}

export interface SoakOptions {
  readonly port: number;
  readonly creds: ClientCredentials;
  readonly pid: number;
  readonly probeFile: string;
  readonly durationMs: number;
  readonly sampleEveryMs: number;
  /** Clients each running connect, N round trips, close, in a loop. */
  readonly workers: number;
  readonly requestsPerConnection: number;
}

const PAYLOAD = Buffer.alloc(1024, 'a');

/** One connection: handshake, `requests` round trips of 1 KiB through the sidecar to the echo app, close. */
function oneConnection(port: number, creds: ClientCredentials, requests: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      ...creds,
      minVersion: 'TLSv1.3',
      checkServerIdentity: () => undefined,
    });
    let done = 0;
    let pending = PAYLOAD.length;
    socket.once('secureConnect', () => socket.write(PAYLOAD));
    socket.on('data', (chunk: Buffer) => {
      pending -= chunk.length;
      if (pending > 0) return;
      done++;
      if (done === requests) {
        socket.end();
        return;
      }
      pending = PAYLOAD.length;
      socket.write(PAYLOAD);
    });
    socket.once('error', reject);
    socket.once('close', () => (done === requests ? resolve(done) : reject(new Error(`closed after ${done}`))));
  });
}

function meanOf(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / Math.max(values.length, 1);
}

/** Growth between the second fifth of a series and its last fifth (means), so that one GC does not decide it. */
export function growthOf(series: readonly number[]): number {
  const fifth = Math.max(1, Math.floor(series.length / 5));
  return meanOf(series.slice(-fifth)) - meanOf(series.slice(fifth, 2 * fifth));
}

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const counts = { connections: 0, requests: 0, failures: 0 };
  const started = performance.now();
  const deadline = started + options.durationMs;
  const worker = async () => {
    while (performance.now() < deadline) {
      try {
        // Awaited first: `counts.requests += await ...` would read the count before the wait and lose updates.
        const requests = await oneConnection(options.port, options.creds, options.requestsPerConnection);
        counts.requests += requests;
        counts.connections++;
      } catch {
        counts.failures++;
      }
    }
  };
  const samples: SoakSample[] = [];
  const sample = async () => {
    const memory = await sampleNode(options.pid, options.probeFile);
    samples.push({ elapsedMs: performance.now() - started, ...counts, ...memory });
  };
  const workers = Array.from({ length: options.workers }, worker);
  await sample();
  while (performance.now() + options.sampleEveryMs < deadline) {
    await new Promise((resolve) => setTimeout(resolve, options.sampleEveryMs));
    await sample();
  }
  await Promise.all(workers);
  await sample();
  const heaps = samples.map((s) => s.heapUsedBytes);
  return {
    durationMs: options.durationMs,
    workers: options.workers,
    requestsPerConnection: options.requestsPerConnection,
    samples,
    rssGrowthBytes: growthOf(samples.map((s) => s.rssBytes)),
    heapGrowthBytes: heaps.every((h) => h !== undefined) ? growthOf(heaps as number[]) : undefined,
  };
}

const mb = (bytes: number | undefined) => (bytes === undefined ? '–' : (bytes / 2 ** 20).toFixed(1));

/** Markdown: about ten rows of samples (one a minute for 10 minutes), then the growth line. */
export function soakTable(result: SoakResult, rowEveryMs = result.durationMs / 10): string {
  const rows = [
    '| elapsed | connections | requests | failed | RSS MiB | heap used after GC MiB |',
    '| ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  let next = 0;
  const last = result.samples.at(-1);
  for (const s of result.samples) {
    if (s.elapsedMs < next && s !== last) continue;
    next = s.elapsedMs + rowEveryMs * 0.9;
    rows.push(
      `| ${(s.elapsedMs / 1000).toFixed(0)} s | ${s.connections} | ${s.requests} | ${s.failures} | ${mb(s.rssBytes)} | ${mb(s.heapUsedBytes)} |`,
    );
  }
  const growth = `Growth (mean of the last fifth of ${result.samples.length} samples minus the mean of the second fifth): RSS ${mb(result.rssGrowthBytes)} MiB, heap after GC ${mb(result.heapGrowthBytes)} MiB.`;
  return `${rows.join('\n')}\n\n${growth}`;
}
