import { readX509PopDevice } from './identity/x509pop-device.ts';
import { randomInt, randomUUID } from 'node:crypto';
import { sigilVersion } from './sigil-version.ts';
import type { sigil } from '../proto/index.ts';
import { formatHostPort, type HostPort } from '../common/address.ts';
import { systemClock, type Clock } from '../common/clock.ts';
import { ErrorCode, SigilError } from '../common/errors.ts';
import { HttpListener } from '../common/http-listener.ts';
import { createLogger, type Logger } from '../common/logger.ts';
import { SidecarMetrics } from './admin/sidecar-metrics.ts';
import type { SidecarConfig } from './config.ts';
import { CredentialSource } from './identity/credential-source.ts';
import { GrpcIdentityApi } from './identity/grpc-identity-api.ts';
import { dnsAddresses } from './identity/dns-addresses.ts';
import type { IdentityApi } from './identity/identity-api.ts';
import { SvidManager } from './identity/svid-manager.ts';
import { SvidStateDir, type SvidStateStore } from './identity/svid-state-dir.ts';
import { svidPeerVerifier } from './peer-verifier.ts';
import { InboundListener } from './proxy/inbound-listener.ts';
import { OutboundListener } from './proxy/outbound-listener.ts';
import { resolveClientTlsSettings } from './proxy/tls-settings.ts';
import { ControlPlaneState, type ChannelEvent } from './trust/control-plane-state.ts';
import type { TrustState } from './trust/trust-state.ts';
import type { JwtBundleState } from './trust/jwt-bundle-state.ts';
import type { RevocationState } from './trust/revocation-state.ts';
import type { PolicyEnforcer } from './policy/policy-enforcer.ts';
import type { AuthorizePeer } from './proxy/peer-info.ts';
import type { WorkloadApi } from './workload-api/workload-api.ts';

export interface SidecarOptions {
  readonly config: SidecarConfig;
  /** The bootstrap trust bundle that authenticates the control plane (bundle.pem handed over with the token). */
  readonly bootstrapBundlePem: string;
  /** The one-time join token; read only when attesting. */
  readonly joinToken: () => string | Promise<string>;
}

export interface SidecarDeps {
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly identityApi?: IdentityApi;
  readonly random?: () => number;
}

/** What the sidecar reports as it happens, for embedding programs and tests (a discriminated union). */
export type SidecarEvent = ChannelEvent;

export interface SidecarAddresses {
  readonly inbound: readonly HostPort[];
  readonly outbound: readonly HostPort[];
  readonly admin: HostPort;
}

/** Composition root of the sidecar: identity → credentials → listeners, plus the admin endpoint. */
export class Sidecar {
  readonly #options: SidecarOptions;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly metrics = new SidecarMetrics();
  readonly credentials: CredentialSource;
  readonly #svids: SvidManager;
  readonly #state: ControlPlaneState;
  /** Random per process: tells this instance from others of the same SPIFFE ID in the fleet view. */
  readonly instanceId = randomUUID();
  readonly #inbound: InboundListener[];
  readonly #outbound: OutboundListener[];
  readonly #admin: HttpListener;
  readonly #stateDir: SvidStateDir | undefined;
  /** The bundle stored with the SVID in the state directory: after a CA rotation the bootstrap one may be stale. */
  #storedBundlePem: string | undefined;
  #addresses: SidecarAddresses | undefined;
  #adminAddress: HostPort | undefined;
  #stopping = false;
  readonly #grpcApi: GrpcIdentityApi;
  readonly #random: () => number;
  #workloadApi: WorkloadApi | undefined;
  readonly #eventListeners = new Set<(event: SidecarEvent) => void>();

  constructor(options: SidecarOptions, deps: SidecarDeps = {}) {
    const { config } = options;
    this.#options = options;
    this.#clock = deps.clock ?? systemClock;
    this.#logger = deps.logger ?? createLogger({ component: 'sidecar', level: config.logLevel });
    const tls = resolveClientTlsSettings({ minVersion: config.minTlsVersion });
    this.credentials = new CredentialSource({ clientTls: tls, clock: this.#clock, logger: this.#logger });
    const random = deps.random ?? (() => randomInt(0, 2 ** 32) / 2 ** 32);
    const grpcApi = new GrpcIdentityApi({
      address: config.controlPlane.address,
      trustDomain: config.trustDomain,
      bundlePem: () =>
        this.trust.bundle?.pem ??
        (this.#storedBundlePem ? this.#storedBundlePem + options.bootstrapBundlePem : options.bootstrapBundlePem),
      random,
      clock: this.#clock,
      resolve: dnsAddresses,
      report: () => this.#report(),
    });
    const api = deps.identityApi ?? grpcApi;
    this.#grpcApi = grpcApi;
    this.#random = random;
    this.#stateDir = config.stateDir
      ? new SvidStateDir({ dir: config.stateDir, onWarning: (msg, fields) => this.#logger.warn(fields, msg) })
      : undefined;
    const stateDir = this.#stateDir;
    const stateStore: SvidStateStore | undefined = stateDir && {
      load: async (spiffeId) => {
        const stored = await stateDir.load(spiffeId);
        this.#storedBundlePem = stored?.bundlePem;
        return stored;
      },
      save: (material) => stateDir.save(material),
      discard: () => stateDir.discard(),
    };
    this.#state = new ControlPlaneState(config, {
      credentials: this.credentials,
      api: grpcApi,
      metrics: this.metrics,
      closeWhere: (predicate, scope) =>
        (scope === 'inbound' ? this.#inbound : [...this.#inbound, ...this.#outbound]).reduce(
          (n, l) => n + l.closeWhere(predicate),
          0,
        ),
      emit: (event) => this.#emit(event),
      renewNow: (reason) => this.#svids.renewNow(reason),
      random,
      clock: this.#clock,
      logger: this.#logger,
    });
    this.#svids = new SvidManager(
      {
        spiffeId: config.spiffeId,
        trustDomain: config.trustDomain,
        keyType: config.keyType,
        joinToken: options.joinToken,
        ...(config.x509pop
          ? { x509pop: () => readX509PopDevice(config.x509pop as NonNullable<typeof config.x509pop>) }
          : {}),
        backoffMaxMs: config.retryMaxBackoffMs,
      },
      {
        api,
        onTrust: (t) => {
          this.trust.offer(t.roots, t.bundleSequence, 'issuance');
          this.#state.jwtBundle.offer(t.spiffeBundle, t.bundleSequence);
        },
        ...(stateStore ? { stateStore } : {}),
        // Every new SVID is served with the newest bundle known, whichever path brought it.
        credentials: {
          update: (material) =>
            this.credentials.update({
              certChainPem: material.certChainPem,
              keyPem: material.keyPem,
              bundlePem: this.trust.bundle?.pem ?? material.bundlePem,
              spiffeId: material.spiffeId,
              serial: material.serial,
              notAfter: material.notAfter,
            }),
          clear: (reason) => {
            this.credentials.clear(reason);
            this.#workloadApi?.svids.clear(reason);
            this.#workloadApi?.jwtSvids.clear();
          },
        },
        clock: this.#clock,
        random,
        logger: this.#logger,
        observer: {
          issued: (e) => {
            // The workload's SVID follows the sidecar's: same schedule, its own key.
            void this.#workloadApi?.svids.refresh(e.reason);
            this.metrics.renewals.inc({ via: e.via, result: 'ok' });
            this.metrics.svidNotAfter.set(e.notAfter / 1000);
          },
          failed: (e) => {
            this.metrics.renewals.inc({ via: e.via, result: e.code });
          },
        },
      },
    );
    const notRevoked: AuthorizePeer = (peer) => this.revocation.authorize(peer.serial, peer.identity.spiffeId);
    // Inbound: revocation first (cheapest, and a revoked peer needs no policy explanation), then policy.
    const inboundAuthorize: AuthorizePeer = (peer) => {
      const revocation = this.revocation.authorize(peer.serial, peer.identity.spiffeId);
      return revocation.allowed ? this.policy.authorize(peer) : revocation;
    };
    const proxyDeps = {
      credentials: this.credentials,
      observer: this.metrics,
      logger: this.#logger,
      clock: this.#clock,
    };
    this.#inbound = config.inbound.map(
      (i) =>
        new InboundListener(
          { ...i, minTlsVersion: config.minTlsVersion, resumption: config.resumption },
          { ...proxyDeps, authorizePeer: inboundAuthorize, verifyPeer: svidPeerVerifier(config.trustDomain, 'client') },
        ),
    );
    this.#outbound = config.outbound.map(
      (o) =>
        new OutboundListener(
          { ...o, resumption: config.resumption },
          {
            ...proxyDeps,
            authorizePeer: notRevoked,
            verifyPeer: svidPeerVerifier(config.trustDomain, 'server'),
          },
        ),
    );
    // A revocation of our own SVID (pushed or fetched) is noticed at once: renewing tells the control plane's
    // verdict, and a refused renewal withdraws the SVID and re-attests (SvidManager).
    this.revocation.onChange((set) => {
      const own = this.credentials.current?.material;
      if (own !== undefined && set.isRevoked(own.serial, own.spiffeId)) void this.#svids.renewNow('own-svid-revoked');
      // Resumption re-checks revocation anyway; dropping the tickets spares a connection that would be refused.
      for (const l of this.#outbound) l.forgetSessionsWhere((s) => set.isRevoked(s.serial, s.spiffeId));
    });
    this.#admin = new HttpListener({
      logger: this.#logger,
      readiness: () => this.#readiness(),
      metrics: () => this.metrics.render({ revocationAgeMs: this.revocation.ageMs() }),
    });
  }

  /** Subscribes to what the sidecar reports; returns the unsubscribe function. */
  onEvent(listener: (event: SidecarEvent) => void): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  /** Whether the event channel is connected to NATS (false when none is configured). */
  get eventChannelConnected(): boolean {
    return this.#state.eventChannelConnected;
  }

  /** The trust bundle, revocation set and allow-policies in force, as learned from the control plane. */
  get trust(): TrustState {
    return this.#state.trust;
  }

  /** The trust domain's JWT-SVID keys, as learned from the control plane. */
  get jwtBundle(): JwtBundleState {
    return this.#state.jwtBundle;
  }

  get revocation(): RevocationState {
    return this.#state.revocation;
  }

  get policy(): PolicyEnforcer {
    return this.#state.policy;
  }

  /** What this sidecar tells the control plane about itself on each call: the fleet view's row. */
  #report(): sigil.v1.ISidecarReport {
    const bundle = this.#state?.trust.bundle;
    return {
      instanceId: this.instanceId,
      sidecarVersion: sigilVersion(),
      hasVersions: bundle !== undefined,
      bundleSequence: bundle?.sequence ?? 0,
      crlNumber: this.#state?.revocation.set.crlNumber ?? 0,
      policyVersion: this.#state?.policy.version ?? 0,
    };
  }

  #emit(event: SidecarEvent): void {
    for (const listener of this.#eventListeners) {
      try {
        listener(event);
      } catch (err) {
        this.#logger.error({ err }, 'a sidecar event listener failed');
      }
    }
  }

  get addresses(): SidecarAddresses | undefined {
    return this.#addresses;
  }

  get spiffeId(): string {
    return this.#options.config.spiffeId;
  }

  /**
   * Opens the admin endpoint, obtains the SVID (renewing a stored one, else attesting), then opens the listeners:
   * nothing proxies before the sidecar holds a valid SVID. While the control plane cannot be reached or refuses,
   * start() keeps waiting (the SVID manager retries with capped backoff) and /readyz says why; it rejects only for
   * local faults (an unusable stateDir, a port in use) or when stop() is called first. It starts everything or
   * nothing: a failed step stops what had started (NATS connection, timers, admin endpoint) before the error is
   * passed on, so the process can exit with it.
   */
  async start(): Promise<SidecarAddresses> {
    try {
      return await this.#start();
    } catch (err) {
      await this.#abort();
      throw err;
    }
  }

  /** Undoes a failed start step by step, each step whatever the others did. */
  async #abort(): Promise<void> {
    this.#svids.stop();
    await this.#state.stop().catch(() => undefined);
    await Promise.allSettled([...this.#inbound, ...this.#outbound].map((l) => l.stop({ drainTimeoutMs: 0 })));
    await this.#admin.close().catch(() => undefined);
    await this.#stopWorkloadApi().catch(() => undefined);
  }

  async #start(): Promise<SidecarAddresses> {
    await this.#stateDir?.prepare();
    // The socket path is checked before attesting, so a bad one costs no join token.
    await this.#startWorkloadApi();
    this.#adminAddress = await this.#admin.listen(this.#options.config.admin.listen);
    await this.#svids.start();
    if (this.#svids.state !== 'ready') {
      this.#logger.warn(
        {
          spiffe_id: this.spiffeId,
          admin: formatHostPort(this.#adminAddress),
          err_code: this.#svids.lastFailure?.code,
        },
        'no SVID yet; waiting for the control plane (retrying with capped backoff; /readyz says why)',
      );
      await this.#svids.whenReady();
    }
    if (this.#stopping) throw new SigilError(ErrorCode.UNAVAILABLE, `${this.spiffeId} was stopped before it started`);
    // Revocations and policies must be known before the first connection is accepted.
    await this.#state.start();
    for (const l of [...this.#inbound, ...this.#outbound]) await l.start();
    const admin = this.#adminAddress;
    const addr = (a: { address: string; port: number }): HostPort => ({ host: a.address, port: a.port });
    this.#addresses = {
      inbound: this.#inbound.map((l) => addr(l.address())),
      outbound: this.#outbound.map((l) => addr(l.address())),
      admin,
    };
    this.#logger.info(
      {
        spiffe_id: this.spiffeId,
        inbound: this.#addresses.inbound.map(formatHostPort),
        outbound: this.#addresses.outbound.map(formatHostPort),
        admin: formatHostPort(admin),
      },
      'sidecar started',
    );
    return this.#addresses;
  }

  /** The admin endpoint's address once it listens (before the SVID is obtained), for probes while waiting. */
  get adminAddress(): HostPort | undefined {
    return this.#adminAddress;
  }

  /** Stops accepting, lets open connections finish for up to `drainTimeoutMs`, then closes the rest. */
  async stop(drainTimeoutMs = this.#options.config.drainTimeoutMs): Promise<void> {
    this.#stopping = true;
    this.#svids.stop();
    await this.#state.stop();
    if (this.#addresses !== undefined)
      await Promise.all([...this.#inbound, ...this.#outbound].map((l) => l.stop({ drainTimeoutMs })));
    await this.#admin.close();
    await this.#stopWorkloadApi();
    this.#logger.info({ spiffe_id: this.spiffeId }, 'sidecar stopped');
  }

  /** Loaded only when configured: the Workload API's proto and gRPC server cost nothing otherwise. */
  async #startWorkloadApi(): Promise<void> {
    const { config } = this.#options;
    if (!config.workloadApi) return;
    const { createWorkloadApi } = await import('./workload-api/workload-api.ts');
    const workloadApi = createWorkloadApi(
      { ...config.workloadApi, spiffeId: config.spiffeId, trustDomain: config.trustDomain, keyType: config.keyType },
      {
        api: this.#grpcApi,
        proxy: () => this.#svids.current(),
        trust: this.trust,
        jwtBundle: this.#state.jwtBundle,
        clock: this.#clock,
        random: this.#random,
        logger: this.#logger,
      },
    );
    await workloadApi.server.start();
    this.#workloadApi = workloadApi;
    // Revoked with the identity: the control plane revoked the workload SVID's certificate with the sidecar's; here
    // it stops being handed out at once, and the JWT-SVIDs minted for it are dropped.
    this.revocation.onChange((set) => {
      const svid = workloadApi.svids.current;
      if (svid && set.isRevoked(svid.serial, svid.spiffeId)) {
        workloadApi.svids.clear('revoked');
        workloadApi.jwtSvids.clear();
      }
    });
  }

  async #stopWorkloadApi(): Promise<void> {
    const workloadApi = this.#workloadApi;
    this.#workloadApi = undefined;
    workloadApi?.svids.stop();
    await workloadApi?.server.stop();
  }

  /** The Workload API's parts when it is served (tests read its stream count). */
  get workloadApi(): WorkloadApi | undefined {
    return this.#workloadApi;
  }

  #readiness() {
    const state = this.#svids.state;
    const current = this.credentials.current?.material;
    const valid = state === 'ready' || state === 'renewing';
    const fromControlPlane = this.#state.readinessChecks();
    const failure = this.#svids.lastFailure;
    return {
      ready: valid && fromControlPlane.ready && this.#addresses !== undefined,
      checks: {
        svid: {
          ok: valid,
          detail: current
            ? `${state}; serial ${current.serial} valid until ${new Date(current.notAfter).toISOString()}`
            : `${svidStateReason(state)}${failure ? `; last attempt failed with ${failure.code}: ${failure.message}` : ''}`,
        },
        listeners: {
          ok: this.#addresses !== undefined,
          detail: this.#addresses !== undefined ? 'open' : 'not open until the sidecar holds an SVID',
        },
        ...fromControlPlane.checks,
      },
    };
  }
}

/** What each SVID state means for an operator reading /readyz (docs/operator-guide.md, "Day 2"). */
function svidStateReason(state: string): string {
  switch (state) {
    case 'starting':
      return 'starting: no SVID yet, waiting for the control plane to issue one';
    case 'expired':
      return 'expired: the SVID ran out before a renewal succeeded; re-attesting (needs a join token)';
    case 'revoked':
      return 'revoked: this SVID is revoked; re-attesting as soon as a valid join token is available';
    default:
      return state;
  }
}
