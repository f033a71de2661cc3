// Messages between the benchmark (parent) and its child processes over the Node IPC channel. Every child entry
// sends one `ready` (or `failed`) once it serves; load workers then answer the parent's requests by `id`.

/** What each target child reports once it listens. */
export type TargetReady = {
  readonly type: 'ready';
  readonly host: string;
  readonly port: number;
  /** Set by targets that obtained their own SVID (the sidecar): files other targets can serve the same one from. */
  readonly credentials?: CredentialFiles;
  readonly serial?: string;
  /** The sidecar's admin endpoint (metrics), for targets that are sidecars. */
  readonly admin?: { readonly host: string; readonly port: number };
};

export type ChildFailed = { readonly type: 'failed'; readonly message: string };

/** An SVID on disk: the chain (leaf first), its key (mode 0600) and the trust bundle peers are verified with. */
export interface CredentialFiles {
  readonly certChainPath: string;
  readonly keyPath: string;
  readonly bundlePath: string;
}

export type HandshakeMode = 'full' | 'resumed';
export const HANDSHAKE_MODES: readonly HandshakeMode[] = ['full', 'resumed'];

/** Cumulative counts of one load worker since its last `start`. */
export interface LoadCounts {
  /** Connections that completed the mTLS handshake and read the server's byte. */
  readonly handshakes: number;
  /** Of those, how many resumed a session (`isSessionReused()`). */
  readonly resumed: number;
  /** Connections that ended without the byte, by error code ('no_byte' when the peer just closed). */
  readonly failed: Readonly<Record<string, number>>;
}

export type LoadRequest =
  | {
      readonly op: 'start';
      readonly id: number;
      readonly host: string;
      readonly port: number;
      readonly mode: HandshakeMode;
      readonly concurrency: number;
    }
  | { readonly op: 'snapshot'; readonly id: number }
  | { readonly op: 'stop'; readonly id: number };

export type LoadReply =
  | { readonly type: 'ready' }
  | ChildFailed
  | { readonly type: 'counts'; readonly id: number; readonly counts: LoadCounts };
