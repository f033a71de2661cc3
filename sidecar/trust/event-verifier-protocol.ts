import type { Rejection, VerifiedEnvelope } from '../../common/events/verify-envelope.ts';

/** Messages between EventVerifier (the sidecar's thread) and its worker (event-verifier-worker.ts). */

export interface VerifierWorkerData {
  readonly trustDomain: string;
  /** New signer chains validated per subject and second; the control plane's own chain is cached after its first. */
  readonly newChainsPerSubjectPerSecond: number;
}

export type ToWorker =
  | { readonly type: 'roots'; readonly roots: readonly Uint8Array[] }
  | {
      readonly type: 'verify';
      readonly id: number;
      readonly subject: string;
      readonly data: Uint8Array;
      /** The sidecar's clock at receipt (ms): validity and the budget are judged as of then. */
      readonly now: number;
    };

export type FromWorker =
  /** Posted once its modules are loaded. */
  | { readonly type: 'ready' }
  | { readonly type: 'result'; readonly id: number; readonly result: VerifiedEnvelope | Rejection };
