import { round } from '../lib/stats.ts';
import type { GoLoadClient } from '../handshake/go-load-client.ts';
import { diffCounts } from '../handshake/load-client.ts';
import { snapshotWindow } from '../handshake/measure-window.ts';

/** A server as the request benchmark drives it: where to connect, and whose CPU is the server's. */
export interface RequestEndpoint {
  readonly address: { readonly host: string; readonly port: number };
  readonly serverPids: readonly number[];
  readonly auxPids: readonly number[];
  /** Plain TCP instead of mTLS: the app alone, the floor every proxy adds to. */
  readonly plaintext: boolean;
}

/** Raw figures of one window of keep-alive requests. */
export interface RequestSample {
  readonly seconds: number;
  readonly requests: number;
  readonly failed: Readonly<Record<string, number>>;
  /** Nearest-rank percentiles over every request completed in the window, ms. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly serverCpuMs: number;
  readonly auxCpuMs: number;
  readonly clientCpuMs: number;
}

export interface RequestFigures {
  readonly requestsPerSecond: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly serverCpuUsPerRequest: number;
  /** The app's CPU per request (NaN when the server is the app). */
  readonly auxCpuUsPerRequest: number;
  readonly serverCores: number;
  readonly failureRate: number;
}

/**
 * One window of `concurrency` long-lived connections sending `requestBytes` and awaiting the echo, back to back:
 * warm-up (its latencies dropped by the first snapshot), then a window between two snapshots with CPU read from
 * /proc at the same instants.
 */
export async function measureRequestWindow(
  client: GoLoadClient,
  endpoint: RequestEndpoint,
  load: { concurrency: number; requestBytes: number; warmupMs: number; windowMs: number },
): Promise<RequestSample> {
  await client.beginRequests(endpoint.address, {
    concurrency: load.concurrency,
    requestBytes: load.requestBytes,
    plaintext: endpoint.plaintext,
  });
  try {
    const { before: c0, after: c1, ...window } = await snapshotWindow(client, endpoint, load);
    return {
      ...window,
      requests: c1.requests - c0.requests,
      failed: diffCounts(c0, c1).failed,
      p50Ms: c1.latency?.p50 ?? Number.NaN,
      p99Ms: c1.latency?.p99 ?? Number.NaN,
    };
  } finally {
    await client.end();
  }
}

export function requestFiguresOf(s: RequestSample): RequestFigures {
  const n = s.requests;
  const failed = Object.values(s.failed).reduce((a, b) => a + b, 0);
  return {
    requestsPerSecond: round(n / s.seconds, 1),
    p50Us: round(s.p50Ms * 1000),
    p99Us: round(s.p99Ms * 1000),
    serverCpuUsPerRequest: n > 0 ? round((s.serverCpuMs * 1000) / n, 1) : Number.NaN,
    auxCpuUsPerRequest: n > 0 ? round((s.auxCpuMs * 1000) / n, 1) : Number.NaN,
    serverCores: round(s.serverCpuMs / 1000 / s.seconds, 2),
    failureRate: n + failed > 0 ? round(failed / (n + failed), 4) : 0,
  };
}
