import { createPrivateKey } from 'node:crypto';
import type { Clock, Timer } from '../../common/clock.ts';
import { isSigilError, ErrorCode } from '../../common/errors.ts';
import type { KeyType } from '../../common/key-type.ts';
import { LogField, type Logger } from '../../common/logger.ts';
import { pemCertificatesToDer } from '../../common/trust-bundle.ts';
import type { TlsMaterial } from '../identity/credential-source.ts';
import type { WorkloadIdentityApi } from '../identity/identity-api.ts';
import { validateIssuedSvid } from '../identity/issued-svid-validator.ts';
import { backoffDelayMs } from '../identity/renewal-schedule.ts';
import { newSvidKeyRequest } from '../identity/svid-key-request.ts';

/** The X.509-SVID handed to the workload: its own key, the sidecar's SPIFFE ID. Holds a private key: never log it. */
export interface WorkloadSvid {
  readonly spiffeId: string;
  /** Leaf first, then intermediates. */
  readonly chainDer: readonly Uint8Array[];
  /** Unencrypted PKCS#8 DER, as the Workload API sends it. Non-enumerable. */
  readonly keyPkcs8Der: Uint8Array;
  readonly serial: string;
  readonly notAfter: number;
}

export interface WorkloadSvidSourceOptions {
  readonly spiffeId: string;
  readonly trustDomain: string;
  readonly keyType: KeyType;
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
}

export interface WorkloadSvidSourceDeps {
  readonly api: Pick<WorkloadIdentityApi, 'issueWorkloadSvid'>;
  /** The sidecar's own SVID of the moment: it authenticates the request (mTLS). */
  readonly proxy: () => TlsMaterial | undefined;
  readonly clock: Clock;
  readonly random: () => number;
  readonly logger: Logger;
}

/**
 * Keeps the workload's X.509-SVID. It is renewed whenever the sidecar's own SVID is (`refresh`, called from the
 * sidecar's renewal, so both follow one schedule), always with a new key; the control plane records it as replacing
 * the workload's previous SVID, not the sidecar's. Contract on failure: the current workload SVID stays until it
 * expires, the attempt is logged with its code and retried with capped backoff; nothing escapes.
 */
export class WorkloadSvidSource {
  readonly #options: WorkloadSvidSourceOptions;
  readonly #deps: WorkloadSvidSourceDeps;
  readonly #listeners = new Set<(svid: WorkloadSvid | undefined) => void>();
  #svid: WorkloadSvid | undefined;
  #inFlight: Promise<boolean> | undefined;
  #again = false;
  #failures = 0;
  #retry: Timer | undefined;
  #stopped = false;

  constructor(options: WorkloadSvidSourceOptions, deps: WorkloadSvidSourceDeps) {
    this.#options = options;
    this.#deps = deps;
  }

  /** The workload SVID, unless there is none or it has expired. */
  get current(): WorkloadSvid | undefined {
    const s = this.#svid;
    return s !== undefined && s.notAfter > this.#deps.clock.now() ? s : undefined;
  }

  /** Calls `listener` with every new SVID (and undefined when it is withdrawn); returns the unsubscribe function. */
  onChange(listener: (svid: WorkloadSvid | undefined) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }

  /** Obtains a new workload SVID; a call during an attempt runs once more after it. True when one was published. */
  refresh(reason: string): Promise<boolean> {
    if (this.#stopped) return Promise.resolve(false);
    if (this.#inFlight) {
      this.#again = true;
      return this.#inFlight;
    }
    this.#retry?.cancel();
    this.#retry = undefined;
    this.#inFlight = this.#attempt(reason).finally(() => {
      this.#inFlight = undefined;
      if (this.#again && !this.#stopped) {
        this.#again = false;
        void this.refresh('queued');
      }
    });
    return this.#inFlight;
  }

  /** Withdraws the workload SVID (the sidecar's expired, or the identity was revoked). */
  clear(reason: string): void {
    if (this.#svid === undefined) return;
    this.#svid = undefined;
    this.#deps.logger.warn(
      { [LogField.spiffeId]: this.#options.spiffeId, [LogField.reason]: reason },
      'workload SVID withdrawn',
    );
    this.#publish(undefined);
  }

  stop(): void {
    this.#stopped = true;
    this.#retry?.cancel();
    this.#retry = undefined;
  }

  async #attempt(reason: string): Promise<boolean> {
    const proxy = this.#deps.proxy();
    if (proxy === undefined) return false;
    const { spiffeId, trustDomain, keyType } = this.#options;
    try {
      const request = await newSvidKeyRequest(spiffeId, keyType);
      const wire = await this.#deps.api.issueWorkloadSvid(proxy, request.csrDer, this.#svid?.serial ?? '');
      if (this.#stopped) return false;
      const now = this.#deps.clock.now();
      const svid = validateIssuedSvid(wire, { spiffeId, trustDomain, spkiSha256: request.spkiSha256, now });
      const next = {
        spiffeId,
        chainDer: pemCertificatesToDer(svid.certChainPem),
        serial: svid.leaf.serial,
        notAfter: svid.leaf.notAfter,
      };
      const keyDer = new Uint8Array(createPrivateKey(request.keyPem).export({ format: 'der', type: 'pkcs8' }));
      Object.defineProperty(next, 'keyPkcs8Der', { value: keyDer, enumerable: false });
      this.#svid = Object.freeze(next) as unknown as WorkloadSvid;
      this.#failures = 0;
      this.#deps.logger.info(
        { [LogField.spiffeId]: spiffeId, [LogField.serial]: next.serial, [LogField.reason]: reason },
        'workload SVID issued',
      );
      this.#publish(this.#svid);
      return true;
    } catch (err) {
      if (this.#stopped) return false;
      this.#failures += 1;
      const retryInMs = backoffDelayMs(this.#failures, {
        baseMs: this.#options.backoffBaseMs ?? 1000,
        maxMs: this.#options.backoffMaxMs ?? 60_000,
        random: this.#deps.random,
      });
      this.#retry = this.#deps.clock.setTimer(retryInMs, () => {
        this.#retry = undefined;
        void this.refresh('retry');
      });
      this.#deps.logger.warn(
        {
          [LogField.spiffeId]: spiffeId,
          [LogField.errCode]: isSigilError(err) ? err.code : ErrorCode.INTERNAL,
          error: err instanceof Error ? err.message : String(err),
          retry_in_ms: retryInMs,
        },
        'workload SVID request failed; the current one (if any) stays until it expires',
      );
      return false;
    }
  }

  #publish(svid: WorkloadSvid | undefined): void {
    for (const listener of this.#listeners) {
      try {
        listener(svid);
      } catch (err) {
        this.#deps.logger.error(
          { error: err instanceof Error ? err.message : String(err) },
          'a workload SVID listener failed',
        );
      }
    }
  }
}
