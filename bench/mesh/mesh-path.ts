import type { ChildProcesses } from '../lib/child-processes.ts';
import type { SystemRequirement } from '../lib/system-packages.ts';
import type { BenchPki } from '../handshake/bench-pki.ts';
import type { TlsHandshakeCounts } from '../handshake/go-proxy-process.ts';
import type { CredentialFiles } from '../handshake/protocol.ts';

/** The two SVIDs of a mesh path: the server side's (inbound proxy) and the client side's (outbound proxy). */
export interface MeshCredentials {
  readonly server: CredentialFiles;
  readonly client: CredentialFiles;
}

/** What a path gets from the harness when it starts. */
export interface MeshContext {
  /** An empty scratch directory of its own. */
  readonly dir: string;
  readonly pki: BenchPki;
  readonly children: ChildProcesses;
  /** The server core both proxies are pinned to (`taskset -c`), undefined when not pinned. */
  readonly cpus: string | undefined;
  /** The echo app every path forwards to. */
  readonly app: { readonly host: string; readonly port: number };
  /**
   * The SVIDs every path presents, so all compare with the same certificates and keys: those the first Sigil pair
   * obtained itself, else ones issued by the harness.
   */
  credentials(): Promise<MeshCredentials>;
}

/** An outbound proxy → inbound proxy → app chain, ready for plain TCP load on `address`. */
export interface RunningPath {
  /** The outbound proxy's plain TCP listener. */
  readonly address: { readonly host: string; readonly port: number };
  /** Both proxies' processes (read at each window: nginx forks its worker after it listens). */
  readonly proxyPids: readonly number[];
  /** Cumulative TLS sessions between the two proxies, and how many resumed. */
  sessions(): Promise<TlsHandshakeCounts>;
  /** SVIDs the path obtained itself, lent to the paths started after it. */
  readonly credentials?: MeshCredentials;
  stop(): Promise<void>;
}

export interface MeshPath {
  readonly name: string;
  readonly description: string;
  /** Whether the pair is configured to resume sessions between its proxies. */
  readonly resumption: boolean;
  readonly requirements?: readonly SystemRequirement[];
  /** Work before the deadline starts (building the Go proxy). */
  readonly prepare?: (log: (line: string) => void) => void;
  start(context: MeshContext): Promise<RunningPath>;
}

/** Stops what started, last first, ignoring failures: used on every exit path of a path's start and stop. */
export async function stopAll(stoppers: readonly (() => Promise<void>)[]): Promise<void> {
  for (const stop of [...stoppers].reverse()) await stop().catch(() => undefined);
}
