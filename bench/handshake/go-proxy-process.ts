import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { ChildProcesses } from '../lib/child-processes.ts';
import { pinned } from './cpu-pinning.ts';
import type { CredentialFiles } from './protocol.ts';

const READY_TIMEOUT_MS = 15_000;
const REPLY_TIMEOUT_MS = 5_000;

/** TLS handshakes the proxy completed on its side since it started, and how many resumed a session. */
export interface TlsHandshakeCounts {
  readonly handshakes: number;
  readonly resumed: number;
}

export interface GoProxyOptions {
  readonly binary: string;
  /** inbound: terminates mTLS, forwards plain TCP; outbound: accepts plain TCP, originates mTLS. */
  readonly mode: 'inbound' | 'outbound';
  /** The app (inbound) or the inbound proxy (outbound). */
  readonly forward: { readonly host: string; readonly port: number };
  readonly credentials: CredentialFiles;
  /** Outbound: the upstream's SPIFFE ID, checked against its URI SAN. */
  readonly expect?: string;
  /** Outbound: sessions kept and offered; 0 (the default) turns resumption off. */
  readonly sessionCache?: number;
  readonly cpus: string | undefined;
}

type Reply =
  | { type: 'ready'; host: string; port: number }
  | { type: 'failed'; message: string }
  | ({ type: 'counts' } & TlsHandshakeCounts);

/** bench/go-proxy as a child process on the server cores, driven over its stdin and stdout. */
export class GoProxyProcess {
  readonly #child: ChildProcessByStdio<Writable, Readable, null>;
  readonly #replies: ((reply: Reply) => void)[] = [];
  readonly #exited: Promise<void>;
  readonly address: { readonly host: string; readonly port: number };

  private constructor(
    child: ChildProcessByStdio<Writable, Readable, null>,
    address: { host: string; port: number },
    replies: ((reply: Reply) => void)[],
  ) {
    this.#child = child;
    this.address = address;
    this.#replies = replies;
    this.#exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
  }

  get pid(): number {
    return this.#child.pid ?? 0;
  }

  /** Starts the proxy and resolves once it listens; rejects if it fails, exits or stays silent for 15 s. */
  static async start(options: GoProxyOptions, children: ChildProcesses): Promise<GoProxyProcess> {
    const { certChainPath, keyPath, bundlePath } = options.credentials;
    const argv = [
      options.binary,
      '-mode',
      options.mode,
      '-forward',
      `${options.forward.host}:${options.forward.port}`,
      '-cert',
      certChainPath,
      '-key',
      keyPath,
      '-ca',
      bundlePath,
      ...(options.expect ? ['-expect', options.expect] : []),
      '-session-cache',
      String(options.sessionCache ?? 0),
    ];
    const { command, args } = pinned(options.cpus, argv);
    const child = children.track(spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] }));
    const replies: ((reply: Reply) => void)[] = [];
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      let reply: Reply;
      try {
        reply = JSON.parse(line) as Reply;
      } catch {
        return;
      }
      replies.shift()?.(reply);
    });
    const what = `the Go ${options.mode} proxy`;
    const ready = await new Promise<{ host: string; port: number }>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new SigilError(ErrorCode.UNAVAILABLE, `${what} did not listen within ${READY_TIMEOUT_MS / 1000} s`));
      }, READY_TIMEOUT_MS);
      replies.push((reply) => {
        clearTimeout(timer);
        if (reply.type === 'ready') resolve({ host: reply.host, port: reply.port });
        else
          reject(
            new SigilError(
              ErrorCode.UNAVAILABLE,
              `${what} failed to start: ${reply.type === 'failed' ? reply.message : 'unexpected reply'}`,
            ),
          );
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new SigilError(ErrorCode.UNAVAILABLE, `${what} could not be spawned (${command}): ${err.message}`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new SigilError(ErrorCode.UNAVAILABLE, `${what} exited (${code ?? signal}); its errors are above`));
      });
    });
    return new GoProxyProcess(child, ready, replies);
  }

  /** Cumulative handshake counts of the proxy's own TLS side. */
  counts(): Promise<TlsHandshakeCounts> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new SigilError(ErrorCode.DEADLINE_EXCEEDED, 'the Go proxy did not report its counts')),
        REPLY_TIMEOUT_MS,
      );
      this.#replies.push((reply) => {
        clearTimeout(timer);
        if (reply.type === 'counts') resolve({ handshakes: reply.handshakes, resumed: reply.resumed });
        else reject(new SigilError(ErrorCode.INTERNAL, `the Go proxy answered ${reply.type}`));
      });
      this.#child.stdin.write('counts\n');
    });
  }

  /** Closing its stdin ends the proxy; SIGKILL if it has not exited within 3 s. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#child.stdin.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 3000);
    await this.#exited;
    clearTimeout(timer);
  }
}
