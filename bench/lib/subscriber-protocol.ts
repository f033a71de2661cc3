/** Messages between the benchmark and its subscriber worker processes (Node IPC, JSON). */
import type { TlsMaterial } from '../../sidecar/index.ts';

export interface WorkerStart {
  readonly type: 'start';
  readonly subscribers: number;
  readonly servers: readonly string[];
  readonly trustDomain: string;
  /** The control plane's gRPC address, for one FetchTrust that seeds every subscriber's trust state. */
  readonly grpcAddress: string;
  readonly bundlePem: string;
  /** The SVID that FetchTrust is called with: without one the control plane answers with the bundle only. */
  readonly trustReader: TlsMaterial;
  readonly name: string;
  /**
   * One per subscriber when given: each attests with its token (a real SvidManager) and acts on rotation orders
   * as a sidecar does (RotationOrders: a new key at a random moment in the window).
   */
  readonly identities?: readonly { readonly spiffeId: string; readonly token: string }[];
}

export type ToWorker =
  | WorkerStart
  | { readonly type: 'reset' }
  | { readonly type: 'report' }
  | { readonly type: 'stop' };

export interface WorkerReport {
  readonly type: 'report';
  /** Publish-to-applied latencies (ms) since the last reset, by label (e.g. 'bundle.changed'). */
  readonly samples: Readonly<Record<string, readonly number[]>>;
  /** Messages dropped by the channel since the last reset, by kind/reason. */
  readonly dropped: Readonly<Record<string, number>>;
}

export type FromWorker =
  | { readonly type: 'ready'; readonly bundleSequence: number }
  /** Every subscriber of the worker has applied this event. */
  | { readonly type: 'complete'; readonly kind: string; readonly sequence: number }
  | WorkerReport
  | { readonly type: 'failed'; readonly error: string };
