import { fileURLToPath } from 'node:url';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { ChildProcesses } from '../lib/child-processes.ts';
import { processCpuMs } from '../lib/process-cpu.ts';
import { startNodeChild, type NodeChild } from './node-child.ts';
import type { CredentialFiles, HandshakeMode, LoadCounts, LoadReply, LoadRequest } from './protocol.ts';

const WORKER = fileURLToPath(new URL('./load-worker.ts', import.meta.url));

export interface LoadClientOptions {
  /** The client SVID every connection presents. */
  readonly credentials: CredentialFiles;
  /** Worker processes: a Node client spends about as much CPU per handshake as the server, so use several. */
  readonly processes: number;
  /** Connections each worker keeps in flight. */
  readonly concurrency: number;
  readonly cpus: string | undefined;
  /** How long a worker may take to answer (a stop waits for connections in flight). */
  readonly replyTimeoutMs?: number;
}

/**
 * What drives load at a target: `begin` → (warm-up) → `snapshot` → (window) → `snapshot` → `end`. Counts are
 * cumulative since `begin`; the CPU of the client's processes is read from /proc.
 */
export interface LoadGenerator {
  readonly pids: readonly number[];
  /** User + system CPU of every client process, ms. */
  cpuMs(): number;
  begin(address: { host: string; port: number }, mode: HandshakeMode): Promise<void>;
  snapshot(): Promise<LoadCounts>;
  /** Stops starting connections and resolves with the final counts once every connection in flight has closed. */
  end(): Promise<LoadCounts>;
  close(): Promise<void>;
}

/**
 * The Node load client: worker processes on the client cores, driven over IPC. A Node client spends about as much
 * CPU per handshake as the server; the Go client (go-load-client.ts) is the one that saturates a server.
 */
export class LoadClient implements LoadGenerator {
  readonly #options: LoadClientOptions;
  readonly #workers: NodeChild<{ type: 'ready' }>[];
  #nextId = 1;

  private constructor(options: LoadClientOptions, workers: NodeChild<{ type: 'ready' }>[]) {
    this.#options = options;
    this.#workers = workers;
  }

  static async start(options: LoadClientOptions, children: ChildProcesses): Promise<LoadClient> {
    const { certChainPath, keyPath, bundlePath } = options.credentials;
    const workers = await Promise.all(
      Array.from({ length: options.processes }, (_, i) =>
        startNodeChild<{ type: 'ready' }>(`load worker ${i + 1}`, WORKER, [certChainPath, keyPath, bundlePath], {
          cpus: options.cpus,
          children,
        }),
      ),
    );
    return new LoadClient(options, workers);
  }

  get pids(): number[] {
    return this.#workers.map((w) => w.pid);
  }

  cpuMs(): number {
    return this.pids.reduce((sum, pid) => sum + processCpuMs(pid), 0);
  }

  async begin(address: { host: string; port: number }, mode: HandshakeMode): Promise<void> {
    await this.#ask((id) => ({
      op: 'start',
      id,
      host: address.host,
      port: address.port,
      mode,
      concurrency: this.#options.concurrency,
    }));
  }

  snapshot(): Promise<LoadCounts> {
    return this.#ask((id) => ({ op: 'snapshot', id }));
  }

  end(): Promise<LoadCounts> {
    return this.#ask((id) => ({ op: 'stop', id }));
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.stop()));
  }

  async #ask(request: (id: number) => LoadRequest): Promise<LoadCounts> {
    const id = this.#nextId++;
    const timeoutMs = this.#options.replyTimeoutMs ?? 15_000;
    const replies = await Promise.all(
      this.#workers.map(
        (worker, i) =>
          new Promise<LoadCounts>((resolve, reject) => {
            const timer = setTimeout(() => {
              worker.child.off('message', onMessage);
              reject(
                new SigilError(
                  ErrorCode.DEADLINE_EXCEEDED,
                  `load worker ${i + 1} did not answer within ${timeoutMs} ms`,
                ),
              );
            }, timeoutMs);
            const onMessage = (message: LoadReply): void => {
              if (message.type !== 'counts' || message.id !== id) return;
              clearTimeout(timer);
              worker.child.off('message', onMessage);
              resolve(message.counts);
            };
            worker.child.on('message', onMessage);
            worker.child.send(request(id));
          }),
      ),
    );
    return sumCounts(replies);
  }
}

export function sumCounts(all: readonly LoadCounts[]): LoadCounts {
  const failed: Record<string, number> = {};
  for (const c of all) for (const [code, n] of Object.entries(c.failed)) failed[code] = (failed[code] ?? 0) + n;
  return {
    handshakes: all.reduce((s, c) => s + c.handshakes, 0),
    resumed: all.reduce((s, c) => s + c.resumed, 0),
    failed,
  };
}

export function diffCounts(before: LoadCounts, after: LoadCounts): LoadCounts {
  const failed: Record<string, number> = {};
  for (const [code, n] of Object.entries(after.failed)) {
    const d = n - (before.failed[code] ?? 0);
    if (d > 0) failed[code] = d;
  }
  return { handshakes: after.handshakes - before.handshakes, resumed: after.resumed - before.resumed, failed };
}
