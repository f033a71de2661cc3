import type { Clock } from '../../common/clock.ts';
import type { Logger } from '../../common/logger.ts';
import type { SidecarMetrics } from '../admin/sidecar-metrics.ts';
import type { SidecarConfig } from '../config.ts';
import type { CredentialSource } from '../identity/credential-source.ts';
import type { GrpcIdentityApi } from '../identity/grpc-identity-api.ts';
import { RotationOrders } from '../identity/rotation-orders.ts';
import { PolicyEnforcer } from '../policy/policy-enforcer.ts';
import type { ConnectionInfo } from '../proxy/peer-info.ts';
import { DropCatchUp } from './drop-catch-up.ts';
import type { EventChannel } from './event-channel.ts';
import { RevocationState } from './revocation-state.ts';
import { TrustRefresher } from './trust-refresher.ts';
import { JwtBundleState } from './jwt-bundle-state.ts';
import { TrustState } from './trust-state.ts';

/**
 * A message dropped unread (the verification queue was full) may have been the control plane's: the full state is
 * fetched over gRPC after drops (DropCatchUp), at most once per this window, so a flood delays a change by about
 * this much while costing the control plane one FetchTrust per flooded sidecar and window.
 */
const CATCH_UP_AFTER_DROPS_MS = 15_000;

export type ChannelEvent =
  | { readonly type: 'event-channel.connected' }
  | { readonly type: 'event-channel.disconnected' }
  | { readonly type: 'event.received'; readonly kind: string; readonly result: string };

export interface ControlPlaneStateDeps {
  readonly credentials: CredentialSource;
  readonly api: Pick<GrpcIdentityApi, 'fetchTrust'>;
  readonly metrics: SidecarMetrics;
  /** Closes live connections matching `predicate` on the inbound listeners only, or on all; returns how many. */
  readonly closeWhere: (predicate: (c: ConnectionInfo) => boolean, scope: 'inbound' | 'all') => number;
  readonly emit: (event: ChannelEvent) => void;
  /** Renews the SVID at once with a new key (rotation orders). */
  readonly renewNow: (reason: string) => Promise<boolean>;
  readonly random: () => number;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * Everything the sidecar learns from its control plane — trust bundle, revocations, allow-policies, rotation
 * orders — and the two
 * paths that bring it: full state over gRPC (at start, every `trustRefreshInterval`, on NATS reconnect and on a
 * revocation gap) and signed events over NATS. Changes reach the TLS contexts and live connections from here.
 */
export class ControlPlaneState {
  readonly trust: TrustState;
  readonly revocation: RevocationState;
  readonly policy: PolicyEnforcer;
  readonly rotationOrders: RotationOrders;
  /** The JWT-SVID keys of the trust domain (from the SPIFFE bundle of each trust state). */
  readonly jwtBundle: JwtBundleState;
  readonly #refresher: TrustRefresher;
  #events: EventChannel | undefined;
  readonly #natsServers: readonly string[] | undefined;
  readonly #config: SidecarConfig;
  #stopped = false;
  readonly #deps: ControlPlaneStateDeps;
  readonly #failOpen: boolean;
  readonly #dropCatchUp: DropCatchUp;

  constructor(config: SidecarConfig, deps: ControlPlaneStateDeps) {
    const { clock, logger, metrics } = deps;
    this.#deps = deps;
    this.#failOpen = config.revocation.failOpen;
    this.#dropCatchUp = new DropCatchUp({
      windowMs: CATCH_UP_AFTER_DROPS_MS,
      clock,
      catchUp: () => void this.#refresher.refreshNow('events-dropped'),
    });
    this.trust = new TrustState({ trustDomain: config.trustDomain }, { clock, logger });
    this.jwtBundle = new JwtBundleState({ logger });
    this.revocation = new RevocationState(config.revocation, { clock, logger });
    this.policy = new PolicyEnforcer(
      { ownId: config.spiffeId, trustDomain: config.trustDomain },
      {
        clock,
        logger,
        onDecision: (d) => metrics.policyDecision(d.decision, d.policy ?? ''),
      },
    );
    this.rotationOrders = new RotationOrders(config.spiffeId, {
      renewNow: (reason) => deps.renewNow(reason),
      clock,
      random: deps.random,
      logger,
      // Every trust refresh repeats the orders still running: those repeats are not news.
      onResult: (result) => {
        if (result !== 'duplicate') metrics.rotationOrders.inc({ result });
      },
    });
    this.#applyChangesToTraffic();
    this.#refresher = new TrustRefresher(
      { intervalMs: config.trustRefreshIntervalMs },
      {
        fetcher: { fetchTrust: () => deps.api.fetchTrust(deps.credentials.current?.material) },
        apply: (state) => {
          this.trust.offer(state.roots, state.bundleSequence, 'grpc');
          this.jwtBundle.offer(state.spiffeBundle, state.bundleSequence);
          // Without a verified SVID (none yet, or one that expired) the answer has no revocations: keeping the
          // old state lets it go stale and fail closed, where an empty one would admit revoked peers.
          if (state.bundleOnly) return;
          this.revocation.replace(state.revocation);
          this.policy.replace(state.policies, 'grpc');
          for (const order of state.rotationOrders) this.rotationOrders.offer(order);
        },
        clock,
        logger,
        onResult: (ok) => metrics.trustFetches.inc({ result: ok ? 'ok' : 'error' }),
      },
    );
    this.#config = config;
    this.#natsServers = config.natsServers;
  }

  get eventChannelConnected(): boolean {
    return this.#events?.connected ?? false;
  }

  /** Fetches the full state once (revocations and policies must be known before the first connection), then runs. */
  async start(): Promise<void> {
    await this.#refresher.refreshNow('start');
    this.#refresher.start();
    if (this.#natsServers) {
      const events = await this.#eventChannel(this.#config, this.#natsServers);
      if (this.#stopped) return;
      this.#events = events;
      events.start();
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#refresher.stop();
    this.#dropCatchUp.stop();
    this.rotationOrders.stop();
    await this.#events?.close();
  }

  /** Readiness checks of this state; stale revocation state under fail-closed makes the sidecar unready. */
  readinessChecks(): { ready: boolean; checks: Record<string, { ok: boolean; detail: string }> } {
    const stale = this.revocation.isStale();
    const staleClosed = stale && !this.#failOpen;
    const age = this.revocation.ageMs();
    const bundle = this.trust.bundle;
    return {
      ready: !staleClosed,
      checks: {
        revocation: {
          ok: !staleClosed,
          detail: `CRL number ${this.revocation.set.crlNumber}, refreshed ${Number.isFinite(age) ? `${Math.round(age / 1000)}s ago` : 'never'}${stale ? (staleClosed ? '; STALE: refusing new connections' : '; STALE: failOpen lets connections through') : ''}`,
        },
        trust: {
          ok: bundle !== undefined,
          detail: bundle ? `bundle sequence ${bundle.sequence}, ${bundle.roots.length} root(s)` : 'no bundle yet',
        },
        // Informational: NATS only speeds up propagation; its absence does not make the sidecar unready.
        events: {
          ok: true,
          detail: !this.#events
            ? 'no event channel configured; gRPC refresh only'
            : this.#events.connected
              ? 'connected to NATS'
              : 'disconnected from NATS; converging over gRPC',
        },
      },
    };
  }

  #applyChangesToTraffic(): void {
    const { credentials, metrics, logger, closeWhere } = this.#deps;
    // A new bundle goes into the TLS contexts with the SVID in force: open connections keep theirs.
    this.trust.onChange((bundle) => {
      try {
        credentials.updateBundle(bundle.pem);
      } catch (err) {
        logger.error({ err }, 'the new trust bundle could not be loaded; the previous one stays in force');
      }
    });
    // Revocation reaches live connections too, not just new handshakes.
    this.revocation.onChange((set) => {
      const closed = closeWhere((c) => set.isRevoked(c.peer.serial, c.peer.identity.spiffeId), 'all');
      if (closed > 0) {
        metrics.closedByRevocation.inc(closed);
        logger.warn({ closed, crl_number: set.crlNumber }, 'closed live connections of revoked peers');
      }
    });
    // A new policy version applies to open connections too: those it would deny are closed.
    this.policy.onChange(() => {
      const closed = closeWhere(
        (c) => this.policy.decide(c.peer.identity.spiffeId, c.peer.localPort).decision === 'deny',
        'inbound',
      );
      if (closed > 0) {
        metrics.closedByPolicy.inc(closed);
        logger.warn(
          { closed, policy_version: this.policy.version },
          'closed live connections the new policy version denies',
        );
      }
    });
  }

  /** The NATS client (about 4 MB of a sidecar's RSS) is loaded only by sidecars configured with NATS servers. */
  async #eventChannel(config: SidecarConfig, servers: readonly string[]): Promise<EventChannel> {
    const { metrics, emit, clock, logger } = this.#deps;
    const [{ EventChannel }, { readNatsAuth }] = await Promise.all([
      import('./event-channel.ts'),
      import('./nats-auth.ts'),
    ]);
    return new EventChannel(
      { servers, trustDomain: config.trustDomain, name: config.spiffeId, auth: readNatsAuth(config.natsAuth) },
      {
        roots: () => this.trust.bundle?.roots ?? [],
        onEvent: (event, meta) => {
          switch (event.type) {
            case 'bundle.updated':
              this.trust.offer(event.roots, event.bundleSequence, 'nats');
              this.jwtBundle.offer(event.spiffeBundle, event.bundleSequence);
              break;
            case 'revocation.updated':
              // A missed change (CRL number gap) is repaired by fetching the full state.
              if (this.revocation.applyDelta(event, meta.issuedAt) === 'gap')
                void this.#refresher.refreshNow('revocation-gap');
              break;
            case 'policy.updated':
              this.policy.replace(event.policies, 'nats');
              break;
            case 'rotate.ordered':
              this.rotationOrders.offer(event);
              break;
          }
        },
        onStatus: (connected, first) => {
          metrics.eventChannelConnected.set(connected ? 1 : 0);
          emit({ type: connected ? 'event-channel.connected' : 'event-channel.disconnected' });
          // Whatever was published while we were away is fetched as full state. That includes the first connection:
          // the start-up fetch ran before the subscription existed (the verifier worker starts in between), and a
          // change published in that window would otherwise wait for the next periodic refresh.
          if (connected) void this.#refresher.refreshNow(first ? 'nats-connect' : 'nats-reconnect');
        },
        onReceived: (kind, result) => {
          metrics.eventsReceived.inc({ kind, result });
          emit({ type: 'event.received', kind, result });
          if (result === 'queue-full' || result === 'verifier-failed') this.#dropCatchUp.dropped();
        },
        clock,
        logger,
      },
    );
  }
}
