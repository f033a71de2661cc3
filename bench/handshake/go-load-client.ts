import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { ChildProcesses } from '../lib/child-processes.ts';
import { processCpuMs } from '../lib/process-cpu.ts';
import { pinned } from './cpu-pinning.ts';
import type { LoadGenerator } from './load-client.ts';
import type { CredentialFiles, HandshakeMode, LoadCounts } from './protocol.ts';

/** Latency of the requests completed between two snapshots, ms (nearest-rank percentiles). */
export interface RequestLatency {
  readonly samples: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** What the Go client counts: handshakes as the Node client does, plus keep-alive requests and their latency. */
export interface GoLoadCounts extends LoadCounts {
  readonly requests: number;
  readonly latency?: RequestLatency;
}

export interface GoLoadClientOptions {
  readonly binary: string;
  readonly credentials: CredentialFiles;
  /** Connections kept in flight by `begin` (handshake modes). */
  readonly concurrency: number;
  readonly cpus: string | undefined;
  readonly replyTimeoutMs?: number;
}

type GoReply =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'counts'; id: number; counts: GoLoadCounts };

/**
 * The Go load client (bench/go-client), one process on the client cores, driven by JSON lines on its stdin. Its
 * handshakes cost a fraction of a Node client's, so a single client core keeps the server core saturated.
 */
export class GoLoadClient implements LoadGenerator {
  readonly #options: GoLoadClientOptions;
  readonly #child: ChildProcessByStdio<Writable, Readable, null>;
  readonly #waiting = new Map<number, (reply: GoReply) => void>();
  #nextId = 1;

  private constructor(options: GoLoadClientOptions, child: ChildProcessByStdio<Writable, Readable, null>) {
    this.#options = options;
    this.#child = child;
  }

  static async start(options: GoLoadClientOptions, children: ChildProcesses): Promise<GoLoadClient> {
    const { certChainPath, keyPath, bundlePath } = options.credentials;
    const { command, args } = pinned(options.cpus, [
      options.binary,
      '-cert',
      certChainPath,
      '-key',
      keyPath,
      '-ca',
      bundlePath,
    ]);
    const child = children.track(spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] }));
    const client = new GoLoadClient(options, child);
    const lines = createInterface({ input: child.stdout });
    const ready = new Promise<void>((resolve, reject) => {
      client.#waiting.set(0, (reply) =>
        reply.type === 'ready'
          ? resolve()
          : reject(
              new SigilError(
                ErrorCode.UNAVAILABLE,
                `the Go load client failed to start: ${reply.type === 'failed' ? reply.message : 'unexpected reply'}`,
              ),
            ),
      );
      child.once('error', (err) =>
        reject(
          new SigilError(ErrorCode.UNAVAILABLE, `the Go load client could not be spawned (${command}): ${err.message}`),
        ),
      );
      child.once('exit', (code, signal) =>
        reject(
          new SigilError(ErrorCode.UNAVAILABLE, `the Go load client exited (${code ?? signal}); its errors are above`),
        ),
      );
    });
    lines.on('line', (line) => {
      let reply: GoReply;
      try {
        reply = JSON.parse(line) as GoReply;
      } catch {
        return;
      }
      const id = reply.type === 'counts' ? reply.id : 0;
      const waiter = client.#waiting.get(id);
      client.#waiting.delete(id);
      waiter?.(reply);
    });
    await ready;
    return client;
  }

  get pids(): number[] {
    return [this.#child.pid ?? 0];
  }

  cpuMs(): number {
    return processCpuMs(this.#child.pid ?? 0);
  }

  async begin(address: { host: string; port: number }, mode: HandshakeMode): Promise<void> {
    await this.#ask({
      op: 'start',
      host: address.host,
      port: address.port,
      mode,
      concurrency: this.#options.concurrency,
    });
  }

  /** Keeps `concurrency` long-lived connections each sending `requestBytes` and awaiting their echo, back to back. */
  async beginRequests(
    address: { host: string; port: number },
    load: { concurrency: number; requestBytes: number; plaintext?: boolean },
  ): Promise<void> {
    await this.#ask({
      op: 'start',
      host: address.host,
      port: address.port,
      mode: load.plaintext ? 'plain-requests' : 'requests',
      concurrency: load.concurrency,
      requestBytes: load.requestBytes,
    });
  }

  /**
   * Keeps `concurrency` plain TCP connections cycling: connect, one byte and its echo, close (the client closes
   * first). For a proxy that originates TLS itself; each round trip counts as a handshake.
   */
  async beginPlainConnections(address: { host: string; port: number }, concurrency: number): Promise<void> {
    await this.#ask({ op: 'start', host: address.host, port: address.port, mode: 'plain-connections', concurrency });
  }

  snapshot(): Promise<GoLoadCounts> {
    return this.#ask({ op: 'snapshot' });
  }

  end(): Promise<GoLoadCounts> {
    return this.#ask({ op: 'stop' });
  }

  async close(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.stdin.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  #ask(request: Record<string, unknown>): Promise<GoLoadCounts> {
    const id = this.#nextId++;
    const timeoutMs = this.#options.replyTimeoutMs ?? 15_000;
    return new Promise<GoLoadCounts>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(
          new SigilError(
            ErrorCode.DEADLINE_EXCEEDED,
            `the Go load client did not answer ${String(request.op)} within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.#waiting.set(id, (reply) => {
        clearTimeout(timer);
        if (reply.type === 'counts') resolve(reply.counts);
        else reject(new SigilError(ErrorCode.INTERNAL, `the Go load client answered ${reply.type}`));
      });
      this.#child.stdin.write(`${JSON.stringify({ ...request, id })}\n`);
    });
  }
}
