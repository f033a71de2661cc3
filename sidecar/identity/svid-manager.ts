import type { X509PopDevice } from './x509pop-device.ts';
import type { Clock, Timer } from '../../common/clock.ts';
import { ErrorCode, isSigilError, SigilError } from '../../common/errors.ts';
import { DEFAULT_KEY_TYPE, type KeyType } from '../../common/key-type.ts';
import { LogField, type Logger } from '../../common/logger.ts';
import { parseWorkloadId } from '../../common/spiffe-id.ts';
import type { TlsMaterial } from './credential-source.ts';
import type { IdentityApi, IssuedSvidWire, IssuedTrustWire } from './identity-api.ts';
import { validateIssuedSvid } from './issued-svid-validator.ts';
import { backoffDelayMs, capBeforeExpiryMs, renewalDelayMs } from './renewal-schedule.ts';
import { newSvidKeyRequest } from './svid-key-request.ts';
import type { SvidStateStore } from './svid-state-dir.ts';
import type { IssuanceVia, SvidObserver, SvidState } from './svid-observer.ts';

export type { IssuanceVia, SvidFailedEvent, SvidIssuedEvent, SvidObserver, SvidState } from './svid-observer.ts';

/**
 * Where validated SVIDs are published: `CredentialSource` fits. `update` may throw to refuse material (the old stays
 * in force). `clear`, when the sink has it, is called when the SVID expires so that nothing stale is served.
 */
export interface CredentialSink {
  update(material: TlsMaterial): unknown;
  clear?(reason: string): void;
}

export interface SvidManagerOptions {
  readonly spiffeId: string;
  readonly trustDomain: string;
  readonly keyType?: KeyType;
  /** Asked before every attestation; return '' or undefined (or throw) when no token is available. */
  readonly joinToken: () => Promise<string | undefined> | string | undefined;
  /** The x509pop credential (device certificate and key); when given, attestation uses it instead of a token. */
  readonly x509pop?: (() => X509PopDevice) | undefined;
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
}

export interface SvidManagerDeps {
  readonly api: IdentityApi;
  readonly credentials: CredentialSink;
  readonly clock: Clock;
  /** Uniform in [0, 1); drives renewal jitter and backoff. */
  readonly random: () => number;
  readonly logger: Logger;
  readonly observer?: SvidObserver;
  /** Receives the trust state of every validated issuance, for the bundle state. */
  readonly onTrust?: (trust: IssuedTrustWire) => void;
  /** Keeps the SVID across restarts (the sidecar's stateDir); without it every start attests with a token. */
  readonly stateStore?: SvidStateStore;
}

/** Renewal refusals that mean the SVID itself is no longer good: only a new attestation can help. */
const REFUSED_SVID_CODES: ReadonlySet<string> = new Set([
  ErrorCode.REVOKED,
  ErrorCode.PEER_UNAUTHENTICATED,
  ErrorCode.PEER_ID_MISMATCH,
  ErrorCode.SVID_EXPIRED,
]);

const NOT_AFTER = LogField.notAfter;

/**
 * Obtains and keeps this sidecar's X.509-SVID: attests with a join token, renews at half life with a new key each
 * time, and publishes every validated SVID to the credential sink. Contract on failure: the current SVID stays in
 * force, the attempt is logged with its error code and retried with capped backoff before expiry; an SVID that
 * expires is withdrawn (state 'expired') and the manager falls back to attestation, which needs a join token.
 * Nothing escapes the background loop.
 */
export class SvidManager {
  readonly #options: Required<Omit<SvidManagerOptions, 'joinToken' | 'x509pop'>> &
    Pick<SvidManagerOptions, 'joinToken' | 'x509pop'>;
  readonly #deps: SvidManagerDeps;
  #state: SvidState = 'starting';
  #material: TlsMaterial | undefined;
  /** An SVID from the state directory, not served: used once to renew after a restart. */
  #stored: TlsMaterial | undefined;
  #lastFailure: { readonly code: string; readonly message: string } | undefined;
  #readyWaiters: (() => void)[] = [];
  #failures = 0;
  #started = false;
  #attemptTimer: Timer | undefined;
  #expiryTimer: Timer | undefined;
  #inFlight: Promise<boolean> | undefined;
  #queued: Promise<boolean> | undefined;

  constructor(options: SvidManagerOptions, deps: SvidManagerDeps) {
    const id = parseWorkloadId(options.spiffeId, options.trustDomain);
    this.#options = Object.freeze({
      spiffeId: id.uri,
      trustDomain: id.trustDomain,
      keyType: options.keyType ?? DEFAULT_KEY_TYPE,
      joinToken: options.joinToken,
      x509pop: options.x509pop,
      backoffBaseMs: options.backoffBaseMs ?? 1000,
      backoffMaxMs: options.backoffMaxMs ?? 60_000,
    });
    this.#deps = deps;
  }

  get state(): SvidState {
    return this.#state;
  }

  /** The SVID being served, or undefined when there is none or it has expired. */
  current(): TlsMaterial | undefined {
    const m = this.#material;
    return m !== undefined && m.notAfter > this.#deps.clock.now() ? m : undefined;
  }

  /**
   * Runs the first attestation. Resolves when that attempt is over, whether or not it succeeded (see `state`); a
   * failed one is retried in the background.
   */
  async start(): Promise<void> {
    if (this.#started)
      throw new SigilError(
        ErrorCode.INVALID_ARGUMENT,
        'SvidManager.start() was called twice; start it once from the composition root',
      );
    this.#started = true;
    const stored = await this.#deps.stateStore?.load(this.#options.spiffeId);
    if (stored !== undefined && stored.notAfter > this.#deps.clock.now()) {
      this.#stored = stored;
      this.#deps.logger.info(
        { [LogField.spiffeId]: stored.spiffeId, [LogField.serial]: stored.serial, [NOT_AFTER]: iso(stored.notAfter) },
        'found a stored SVID; renewing with it instead of a join token',
      );
    } else if (stored !== undefined) {
      this.#deps.logger.warn(
        { [LogField.spiffeId]: stored.spiffeId, [LogField.serial]: stored.serial, [NOT_AFTER]: iso(stored.notAfter) },
        'the stored SVID has expired; the sidecar attests with a join token',
      );
    }
    await this.#run('start');
  }

  /** Why the last attempt failed, while no SVID is served (for /readyz); undefined once one is. */
  get lastFailure(): { readonly code: string; readonly message: string } | undefined {
    return this.#lastFailure;
  }

  /** Resolves once an SVID is served (at once if one is) or the manager stops; never rejects, it retries itself. */
  whenReady(): Promise<void> {
    if (this.#state === 'ready' || this.#state === 'renewing') return Promise.resolve();
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  /** Renews at once with a new key (e.g. on a CA rotation order). Resolves true when a new SVID was published. */
  renewNow(reason: string): Promise<boolean> {
    if (!this.#started || this.#state === 'stopped') return Promise.resolve(false);
    return this.#run(reason);
  }

  /** Cancels all timers; an attempt in flight is abandoned and its result dropped. */
  stop(): void {
    this.#cancelTimers();
    this.#setState('stopped');
    for (const resolve of this.#readyWaiters.splice(0)) resolve();
  }

  /** One attempt at a time; a request during an attempt runs right after it, so a rotation order is never lost. */
  #run(reason: string): Promise<boolean> {
    if (this.#state === 'stopped') return Promise.resolve(false);
    if (this.#inFlight !== undefined) {
      this.#queued ??= this.#inFlight.then(() => {
        this.#queued = undefined;
        return this.#run(reason);
      });
      return this.#queued;
    }
    this.#cancelAttemptTimer();
    const attempt = this.#attempt(reason).finally(() => {
      this.#inFlight = undefined;
    });
    this.#inFlight = attempt;
    return attempt;
  }

  async #attempt(reason: string): Promise<boolean> {
    const startedAt = this.#deps.clock.now();
    this.#withdrawIfExpired();
    if (this.#stored !== undefined && this.#stored.notAfter <= this.#deps.clock.now()) this.#stored = undefined;
    const current = this.#material ?? this.#stored;
    const via: IssuanceVia = current === undefined ? 'attest' : 'renew';
    if (this.#material !== undefined) this.#setState('renewing');
    try {
      const request = await newSvidKeyRequest(this.#options.spiffeId, this.#options.keyType);
      let wire: IssuedSvidWire;
      if (current === undefined) {
        wire = await this.#attest(request.csrDer);
      } else {
        try {
          wire = await this.#deps.api.renew(current, request.csrDer);
        } catch (err) {
          if (!isSigilError(err) || !REFUSED_SVID_CODES.has(err.code)) throw err;
          // The SVID is revoked or no longer accepted: renewing with it will never work again. Stop serving it
          // and attest at once when a credential is at hand (a join token); otherwise say so and keep trying.
          this.#refused(current, err);
          wire = await this.#attest(request.csrDer);
        }
      }
      if (this.#state === 'stopped') return false;
      const { spiffeId, trustDomain } = this.#options;
      const now = this.#deps.clock.now();
      const svid = validateIssuedSvid(wire, { spiffeId, trustDomain, spkiSha256: request.spkiSha256, now });
      const material: TlsMaterial = {
        certChainPem: svid.certChainPem,
        keyPem: request.keyPem,
        bundlePem: svid.bundle.pem,
        spiffeId,
        serial: svid.leaf.serial,
        notAfter: svid.leaf.notAfter,
      };
      // Trust first: the sink may combine the SVID with the newest bundle it knows.
      this.#notify('onTrust', () => this.#deps.onTrust?.(wire.trust));
      this.#deps.credentials.update(material);
      this.#material = material;
      this.#stored = undefined;
      this.#lastFailure = undefined;
      this.#failures = 0;
      void this.#persist(material);
      // The CA backdates notBefore (up to 60 s) for clock skew; half life counts from when we got the SVID, or a
      // short TTL would schedule its renewal in the past and renew in a loop.
      this.#schedule(Math.max(svid.leaf.notBefore, now), svid.leaf.notAfter);
      this.#setState('ready');
      for (const resolve of this.#readyWaiters.splice(0)) resolve();
      this.#deps.logger.info(
        {
          [LogField.spiffeId]: spiffeId,
          [LogField.serial]: material.serial,
          [NOT_AFTER]: iso(material.notAfter),
          via,
          [LogField.reason]: reason,
          // Key generation, CSR, the call and validation: what attestation or renewal costs as the sidecar sees it.
          duration_ms: now - startedAt,
        },
        via === 'attest' ? 'SVID obtained by attestation' : 'SVID renewed',
      );
      this.#notify('issued', () =>
        this.#deps.observer?.issued?.({ via, reason, spiffeId, serial: material.serial, notAfter: material.notAfter }),
      );
      return true;
    } catch (err) {
      if (this.#state !== 'stopped') this.#failed(via, reason, err);
      return false;
    }
  }

  /** Withdraws an SVID the control plane refused to renew (revoked, unknown) and forgets the stored copy. */
  #refused(svid: TlsMaterial, err: SigilError): void {
    const served = this.#material !== undefined;
    this.#material = undefined;
    this.#stored = undefined;
    this.#expiryTimer?.cancel();
    this.#expiryTimer = undefined;
    this.#setState(err.code === ErrorCode.REVOKED ? 'revoked' : 'starting');
    if (served) this.#notify('clear', () => this.#deps.credentials.clear?.('svid-refused'));
    void this.#deps.stateStore?.discard().catch(() => undefined);
    this.#deps.logger.error(
      {
        [LogField.spiffeId]: svid.spiffeId,
        [LogField.serial]: svid.serial,
        [LogField.errCode]: err.code,
        error: err.message,
      },
      'the control plane refused to renew this SVID; it is no longer served and the sidecar needs re-attestation ' +
        `(${this.#credentialHint()}); it re-attests on its own as soon as one is available`,
    );
  }

  async #persist(material: TlsMaterial): Promise<void> {
    const store = this.#deps.stateStore;
    if (store === undefined) return;
    try {
      await store.save(material);
    } catch (err) {
      this.#deps.logger.warn(
        {
          [LogField.spiffeId]: material.spiffeId,
          [LogField.serial]: material.serial,
          error: err instanceof Error ? err.message : String(err),
        },
        'the SVID could not be written to the state directory; a restart will need a join token',
      );
    }
  }

  /** What re-attestation needs, for log lines: the device certificate under x509pop, else a join token. */
  #credentialHint(): string {
    return this.#options.x509pop
      ? 'by x509pop with the device certificate in x509pop.certFile'
      : 'a join token: sigil token create --spiffe-id ...';
  }

  /** x509pop when configured (the device certificate is reusable), else the join token. */
  async #attest(csrDer: Uint8Array): Promise<IssuedSvidWire> {
    const { api } = this.#deps;
    if (this.#options.x509pop && api.attestX509Pop) return api.attestX509Pop(this.#options.x509pop(), csrDer);
    return api.attest(await this.#joinToken(), csrDer);
  }

  async #joinToken(): Promise<string> {
    let token: string | undefined;
    try {
      token = await this.#options.joinToken();
    } catch (cause) {
      throw noToken(this.#options.spiffeId, cause);
    }
    if (typeof token !== 'string' || token === '') throw noToken(this.#options.spiffeId);
    return token;
  }

  #failed(via: IssuanceVia, reason: string, err: unknown): void {
    this.#failures += 1;
    const attempt = this.#failures;
    const now = this.#deps.clock.now();
    let retryInMs = backoffDelayMs(attempt, {
      baseMs: this.#options.backoffBaseMs,
      maxMs: this.#options.backoffMaxMs,
      random: this.#deps.random,
    });
    const serving = this.current();
    if (serving !== undefined) retryInMs = capBeforeExpiryMs(retryInMs, { now, notAfter: serving.notAfter });
    this.#arm(retryInMs, 'retry');
    const code = isSigilError(err) ? err.code : ErrorCode.INTERNAL;
    const detail = isSigilError(err) ? err.details['reason'] : undefined;
    if (serving === undefined) this.#lastFailure = { code, message: err instanceof Error ? err.message : String(err) };
    const fields = {
      [LogField.spiffeId]: this.#options.spiffeId,
      [LogField.errCode]: code,
      ...(detail === undefined ? {} : { err_reason: detail }),
      attempt,
      retry_in_ms: retryInMs,
      via,
      [LogField.reason]: reason,
      error: err instanceof Error ? err.message : String(err),
    };
    if (serving !== undefined) {
      this.#deps.logger.warn(
        { ...fields, [LogField.serial]: serving.serial, [NOT_AFTER]: iso(serving.notAfter) },
        'SVID renewal failed; the current SVID stays in force until it expires',
      );
    } else {
      this.#deps.logger.error(
        fields,
        via === 'attest'
          ? 'attestation failed; no SVID is being served'
          : 'SVID renewal failed and no valid SVID is being served',
      );
    }
    this.#notify('failed', () => this.#deps.observer?.failed?.({ via, reason, code, attempt, retryInMs }));
  }

  #schedule(notBefore: number, notAfter: number): void {
    this.#cancelTimers();
    const now = this.#deps.clock.now();
    this.#arm(renewalDelayMs({ notBefore, notAfter, now, random: this.#deps.random }), 'scheduled');
    this.#expiryTimer = this.#deps.clock.setTimer(notAfter - now, () => this.#onExpiryTimer());
  }

  #arm(delayMs: number, reason: string): void {
    this.#cancelAttemptTimer();
    this.#attemptTimer = this.#deps.clock.setTimer(delayMs, () => {
      this.#attemptTimer = undefined;
      void this.#run(reason);
    });
  }

  /** Expiry timer: a timer firing early re-arms for the rest; once withdrawn, re-attestation starts unless busy. */
  #onExpiryTimer(): void {
    const m = this.#material;
    if (m === undefined || this.#state === 'stopped') return;
    const left = m.notAfter - this.#deps.clock.now();
    if (left > 0) {
      this.#expiryTimer = this.#deps.clock.setTimer(left, () => this.#onExpiryTimer());
      return;
    }
    this.#withdrawIfExpired();
    if (this.#inFlight === undefined && this.#attemptTimer === undefined) void this.#run('expired');
  }

  /** Stops serving an SVID that is past notAfter. */
  #withdrawIfExpired(): void {
    const m = this.#material;
    if (m === undefined || m.notAfter > this.#deps.clock.now()) return;
    this.#material = undefined;
    this.#expiryTimer?.cancel();
    this.#expiryTimer = undefined;
    this.#setState('expired');
    this.#notify('clear', () => this.#deps.credentials.clear?.('svid-expired'));
    this.#deps.logger.error(
      {
        [LogField.spiffeId]: m.spiffeId,
        [LogField.serial]: m.serial,
        [NOT_AFTER]: iso(m.notAfter),
        [LogField.errCode]: ErrorCode.SVID_EXPIRED,
      },
      'the SVID expired before a renewal succeeded and is no longer served; an expired SVID cannot renew, so the sidecar ' +
        `re-attests, which needs ${this.#options.x509pop ? 'its x509pop device certificate' : 'a new join token (sigil token create --spiffe-id ...)'}`,
    );
  }

  #setState(state: SvidState): void {
    if (this.#state === state || this.#state === 'stopped') return;
    this.#state = state;
    this.#notify('stateChanged', () => this.#deps.observer?.stateChanged?.(state));
  }

  #notify(hook: string, call: () => void): void {
    try {
      call();
    } catch (err) {
      this.#deps.logger.error(
        { hook, error: err instanceof Error ? err.message : String(err) },
        'an SVID manager hook threw; ignored',
      );
    }
  }

  #cancelAttemptTimer(): void {
    this.#attemptTimer?.cancel();
    this.#attemptTimer = undefined;
  }

  #cancelTimers(): void {
    this.#cancelAttemptTimer();
    this.#expiryTimer?.cancel();
    this.#expiryTimer = undefined;
  }
}

function noToken(spiffeId: string, cause?: unknown): SigilError {
  // The source's own reason (e.g. the token file that is missing, with its resolved path) comes first.
  const why = cause instanceof Error ? ` (${cause.message})` : '';
  return new SigilError(
    ErrorCode.TOKEN_INVALID,
    `no join token is available to attest ${spiffeId}${why}: create one with \`sigil token create --spiffe-id ${spiffeId}\` and give it to the sidecar`,
    { details: { reason: 'no-token' }, ...(cause === undefined ? {} : { cause }) },
  );
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
