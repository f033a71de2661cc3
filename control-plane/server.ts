import { refuseOpenKeyFiles, refuseUnsafeDataDir } from './file-modes.ts';
import { Server, type ServerCredentials } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatHostPort, type HostPort } from '../common/address.ts';
import { systemClock, type Clock } from '../common/clock.ts';
import { ErrorCode, SigilError } from '../common/errors.ts';
import { HttpListener } from '../common/http-listener.ts';
import { createLogger, LogField, type Logger } from '../common/logger.ts';
import { AdminService, IdentityService } from '../proto/index.ts';
import { adminHandlers } from './api/admin-handlers.ts';
import { InventoryService } from './lifecycle/inventory-service.ts';
import { LifecycleDuty } from './lifecycle/lifecycle-duty.ts';
import { identityHandlers } from './api/identity-handlers.ts';
import { SourceRateLimit } from './api/source-rate-limit.ts';
import { ServingCertificates } from './api/serving-credentials.ts';
import { loadCa } from './ca/load-ca.ts';
import { Pkcs11Tokens } from './keys/pkcs11-tokens.ts';
import type { ControlPlaneConfig } from './config.ts';
import { checkCsr } from './issuance/csr.ts';
import { IdentityIssuer } from './issuance/identity-issuer.ts';
import { JoinTokens } from './issuance/join-tokens.ts';
import { recordCaFiles, recordOf } from './lifecycle/inventory.ts';
import { ControlPlaneMetrics } from './metrics.ts';
import { RevocationRegistry } from './revocation/revocation-registry.ts';
import { ServingIdentity } from './serving-identity.ts';
import { createStore } from './store/open-store.ts';
import { bindStore, refuseMissingSqlite } from './store/store-binding.ts';
import { encryptPlainServingKey } from './ca/serving-key-file.ts';
import type { Store } from './store/store.ts';
import { TrustState } from './trust-state.ts';
import { PolicyService } from './policy/policy-service.ts';
import type { NatsEventPublisher } from './events/nats-event-publisher.ts';
import type { EventPublisher } from './events/event-publisher.ts';
import { addTrustAnchors, publishBundle, type TrustAnchorDeps } from './trust-anchors.ts';
import { ActiveCa } from './ca/active-ca.ts';
import { CaRotation, resumeCaRotation } from './ca-rotation.ts';
import { CaRotationScheduler } from './ca-rotation-scheduler.ts';
import { INTERMEDIATE_TTL_MS } from './ca/templates.ts';
import { RotationOrderService } from './rotation/rotation-orders.ts';
import type { AcmeService as AcmeDuty } from './acme/acme-service.ts';
import type { AcmeRenewalLoop } from './acme/acme-renewal-loop.ts';
import { acmeHandlers } from './api/acme-handlers.ts';
import { AcmeService } from '../proto/index.ts';
import { SigningCertificateIssuer } from './signing/signing-certificates.ts';
import { Replication } from './ha/replication.ts';
import { JwtKeySet } from './jwt/jwt-key-set.ts';
import { X509PopAttestor } from './issuance/x509pop.ts';
import { startDashboard } from './dashboard/dashboard.ts';
import type { DashboardServer } from './dashboard/dashboard-server.ts';
import { AuditLog } from './audit/audit-log.ts';
import { AdminIdentities } from './audit/admin-identities.ts';
import { RetentionDuty } from './audit/retention-duty.ts';
import { audited } from './api/audited-admin.ts';
import { FleetView } from './fleet/fleet-view.ts';
import { SidecarContacts } from './fleet/sidecar-contacts.ts';

export interface ControlPlaneOptions {
  readonly config: ControlPlaneConfig;
  /** Decrypts the intermediate CA key (file key store; '' when the keys are in a token). */
  readonly passphrase: string;
  /** PINs for a CA whose keys are in PKCS#11 (ca.json names the module and token). Never logged. */
  readonly pkcs11?: { readonly pin?: string; readonly rootPin?: string; readonly maxSessions?: number };
  /** `--init-store`: a missing or empty store may start anew although this CA has run with one before. */
  readonly initStore?: boolean;
}

export interface ControlPlaneDeps {
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly store?: Store;
  /** The bundled dashboard front-end; default: dist/dashboard-ui (npm run build). */
  readonly dashboardAssetsDir?: string;
}

export interface ControlPlaneAddresses {
  readonly grpc: HostPort;
  readonly http: HostPort;
  /** Set when cp.yaml configures the dashboard. */
  readonly dashboard?: HostPort;
}

/** Serving SVIDs are short-lived like any SVID and re-minted at half-life. */
const SERVING_SVID_TTL_MS = 24 * 3_600_000;

/** Composition root: loads the CA, opens the store, wires services to the gRPC and HTTP edges. */
export class ControlPlane {
  readonly #options: ControlPlaneOptions;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #store: Store;
  /** PKCS#11 tokens of the CA (opened on first use, only when ca.json puts the keys in a token). */
  readonly #tokens: Pkcs11Tokens;
  readonly #injectedStore: boolean;
  readonly metrics = new ControlPlaneMetrics({ processMetrics: true });
  readonly #grpc = new Server();
  #http: HttpListener | undefined;
  #serving: ServingIdentity | undefined;
  #addresses: ControlPlaneAddresses | undefined;
  #trustDomain: string | undefined;
  #publisher: (EventPublisher & { close(): Promise<void> }) | undefined;
  #anchors: TrustAnchorDeps | undefined;
  #revocation: RevocationRegistry | undefined;
  #scheduler: CaRotationScheduler | undefined;
  #acme: AcmeDuty | undefined;
  #acmeLoop: AcmeRenewalLoop | undefined;
  #replication: Replication | undefined;
  readonly #inventory: InventoryService;
  #lifecycle: LifecycleDuty | undefined;
  #dashboard: DashboardServer | undefined;
  readonly #dashboardAssetsDir: string | undefined;
  #retention: RetentionDuty | undefined;
  #fleet: FleetView | undefined;
  /** Every state-changing or refused admin call; the dashboard records its own actions here too. */
  readonly audit: AuditLog;

  constructor(options: ControlPlaneOptions, deps: ControlPlaneDeps = {}) {
    this.#options = options;
    this.#clock = deps.clock ?? systemClock;
    this.#logger = deps.logger ?? createLogger({ component: 'control-plane', level: options.config.logLevel });
    this.#injectedStore = deps.store !== undefined;
    this.#store = deps.store ?? createStore(options.config, { clock: this.#clock, logger: this.#logger });
    this.#inventory = new InventoryService({ store: this.#store, clock: this.#clock });
    this.#tokens = new Pkcs11Tokens(options.pkcs11 ?? {});
    this.#dashboardAssetsDir = deps.dashboardAssetsDir;
    this.audit = new AuditLog({
      store: this.#store,
      clock: this.#clock,
      logger: this.#logger,
      publisher: () => this.#publisher,
    });
  }

  /** The fleet view: what each sidecar instance last reported. Available once started. */
  get fleet(): FleetView {
    if (!this.#fleet) throw new SigilError(ErrorCode.UNAVAILABLE, 'the control plane is not started');
    return this.#fleet;
  }

  get addresses(): ControlPlaneAddresses {
    if (!this.#addresses) throw new SigilError(ErrorCode.UNAVAILABLE, 'the control plane is not started');
    return this.#addresses;
  }

  get trustDomain(): string | undefined {
    return this.#trustDomain;
  }

  /** Starts everything; a start that fails part-way releases what it took (connections, ports) before it throws. */
  async start(): Promise<ControlPlaneAddresses> {
    try {
      return await this.#start();
    } catch (err) {
      await this.stop().catch(() => undefined);
      throw err;
    }
  }

  async #start(): Promise<ControlPlaneAddresses> {
    const { config } = this.#options;
    const replication = new Replication(
      { ...config.replicas, dataDir: config.dataDir, passphrase: this.#options.passphrase },
      {
        store: this.#store,
        clock: this.#clock,
        random: Math.random,
        logger: this.#logger,
        onReload: (kind, ok) => this.metrics.replicaReloads.inc({ kind, result: ok ? 'ok' : 'error' }),
      },
    );
    this.#replication = replication;
    await refuseUnsafeDataDir(config.dataDir);
    if (replication.shared) {
      // Several replicas: the CA comes from (or, on the first, goes to) the store before anything reads the data dir.
      await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
      await this.#store.open();
      await replication.join();
    }
    const loaded = await loadCa({
      dataDir: config.dataDir,
      passphrase: this.#options.passphrase,
      tokens: this.#tokens,
    });
    const { files, trustDomain } = loaded;
    // Key files in a token or an offline root have no file here; lstat of a missing one passes.
    await refuseOpenKeyFiles([files.rootKey, files.intermediateKey, files.controlPlaneKey, files.adminKey]);
    const ca = new ActiveCa(loaded.ca);
    // A CA whose keys are in a PKCS#11 token may run without a passphrase: control-plane/key.pem then stays a plain
    // 0600 file, as ca init wrote it (give SIGIL_CA_PASSPHRASE as well to have it encrypted).
    if (this.#options.passphrase !== '')
      await encryptPlainServingKey(files.controlPlaneKey, this.#options.passphrase, this.#logger);
    await resumeCaRotation(config.dataDir, ca, this.#logger);
    if (config.trustDomain !== undefined && config.trustDomain !== trustDomain) {
      throw new SigilError(
        ErrorCode.CONFIG_INVALID,
        `the configuration names trust domain ${config.trustDomain}, but the CA in ${config.dataDir} is for ${trustDomain}`,
      );
    }
    this.#trustDomain = trustDomain;
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    const binding = {
      dataDir: config.dataDir,
      storeName: config.postgres ? `PostgreSQL schema ${config.postgres.schema}` : config.sqlitePath,
      initStore: this.#options.initStore === true,
    };
    if (!config.postgres && !this.#injectedStore) await refuseMissingSqlite({ ...binding, path: config.sqlitePath });
    await this.#store.open();
    await bindStore(this.#store, binding);
    if (!replication.shared) await replication.join();
    await replication.exclusive('ca')(() => recordCaFiles(this.#store, files, trustDomain));
    const policies = new PolicyService(
      { trustDomain, defaultAction: config.policyDefaultAction },
      {
        store: this.#store,
        clock: this.#clock,
        // Full state: every sidecar gets the whole set in force.
        // Delivery is best effort like revocations' (sidecars converge through FetchTrust): a failed publish is
        // logged and never turns a stored, enforced change into an error for the operator.
        onChange: async (wire) => {
          try {
            await this.#publisher?.publish({ type: 'policy.updated', policies: wire });
          } catch (err) {
            this.#logger.warn(
              { err, [LogField.errCode]: (err as SigilError).code, policy_version: wire.version },
              'policy event not published; sidecars will converge through FetchTrust',
            );
          }
        },
        exclusive: replication.exclusive('policy'),
        announce: replication.announce('policy'),
      },
    );
    await policies.load();
    const orders = new RotationOrderService(
      { trustDomain },
      { store: this.#store, clock: this.#clock, logger: this.#logger, announce: replication.announce('rotation') },
    );
    await orders.load();
    const keyStore = loaded.keyStore;
    const jwtKeys = new JwtKeySet(
      {
        dataDir: config.dataDir,
        passphrase: this.#options.passphrase,
        trustDomain,
        algorithm: config.jwt.algorithm,
        ttlMs: config.jwt.ttlMs,
        // A CA whose keys are in a token keeps its JWT keys there too (the CA's own, online token).
        ...(keyStore ? { token: () => this.#tokens.open(keyStore.module, keyStore.token) } : {}),
      },
      { clock: this.#clock, logger: this.#logger },
    );
    // A CA made before JWT-SVIDs gets its first JWT key here, once, shared with the other replicas like a CA step.
    await replication.aroundCaStep(() => jwtKeys.ensure());
    const trust = new TrustState(ca, {
      revocation: () => this.#requireRevocation().snapshot,
      policies: () => policies.wire,
      rotationOrders: () => orders.running(),
      jwtKeys: () => jwtKeys.bundleKeys(),
    });
    await replication.exclusive('ca')(() => trust.load(this.#store));
    const caChanged = () => this.metrics.caNotAfter.set({ ca: 'intermediate' }, ca.intermediateNotAfter / 1000);
    caChanged();

    const serving = new ServingCertificates();
    let servingSerial: string | undefined;
    const servingIdentity = new ServingIdentity(
      { hosts: [config.listen.grpc.host], ttlMs: SERVING_SVID_TTL_MS },
      {
        ca,
        clock: this.#clock,
        logger: this.#logger,
        onIssued: async (m) => {
          await this.#store.insertCertificate(
            recordOf(
              m.leaf,
              `spiffe://${trustDomain}/sigil/control-plane`,
              'control-plane',
              m.leaf.issuerSerial,
              this.#clock.now(),
            ),
            servingSerial === undefined ? {} : { supersedes: servingSerial },
          );
          servingSerial = m.leaf.serial;
          this.metrics.issued.inc({ kind: 'control-plane', key_type: m.leaf.keyType });
          serving.update(m);
        },
      },
    );
    this.#serving = servingIdentity;
    await servingIdentity.start();
    this.#publisher = await this.#startPublisher(trustDomain);
    this.#anchors = { ca, store: this.#store, trust, bundleFile: files.bundle, publisher: this.#publisher };
    const revocation = new RevocationRegistry(
      { trustDomain },
      {
        store: this.#store,
        signer: ca,
        clock: this.#clock,
        logger: this.#logger,
        ...(this.#publisher ? { publisher: this.#publisher } : {}),
        exclusive: replication.exclusive('revocation'),
        isLeader: () => replication.coordination.leadership.isLeader,
        announce: replication.announce('revocation'),
      },
    );
    await revocation.start();
    this.#revocation = revocation;

    // Refusals are counted always and logged at most 10 per second per (rpc, code): 20,000 wrong tokens are
    // 20,000 counts, not 5 MB of log.
    const refusalLogs = new SourceRateLimit({ limit: 10, windowMs: 1000, maxSources: 1000 }, { clock: this.#clock });
    const edge = {
      logger: this.#logger,
      onRefused: (rpc: string, code: string) => this.metrics.refused.inc({ rpc, code }),
      logRefusal: (rpc: string, code: string) => {
        try {
          refusalLogs.take(`${rpc}/${code}`, 'log');
          return true;
        } catch {
          return false;
        }
      },
    };
    const issuer = new IdentityIssuer({
      store: this.#store,
      clock: this.#clock,
      svidTtlMs: config.svidTtlMs,
      checkCsr: (der) => checkCsr(der, { trustDomain }),
      signer: { trustDomain, issueLeaf: (request) => ca.issueLeaf(request) },
      onIssued: (leaf, kind) => this.metrics.issued.inc({ kind, key_type: leaf.keyType }),
    });
    const tokens = new JoinTokens({
      store: this.#store,
      clock: this.#clock,
      trustDomain,
      defaultTtlMs: config.joinTokenTtlMs,
    });
    orders.publishWith(this.#publisher);
    const caRotation = new CaRotation({
      ...this.#anchors,
      active: ca,
      dataDir: config.dataDir,
      passphrase: this.#options.passphrase,
      tokens: this.#tokens,
      clock: this.#clock,
      logger: this.#logger,
      orders,
      propagationMs: config.caRotation.propagationMs,
      renewServing: async () => {
        await servingIdentity.renewNow();
      },
      onCaChanged: caChanged,
      around: replication.aroundCaStep,
      jwtKeys,
    });
    const scheduler = new CaRotationScheduler(config.caRotation, {
      rotation: caRotation,
      clock: this.#clock,
      logger: this.#logger,
      intermediateTtlMs: INTERMEDIATE_TTL_MS,
    });
    this.#scheduler = scheduler;
    this.#lifecycle = new LifecycleDuty(
      { alerts: config.alerts, discovery: config.discovery },
      {
        inventory: this.#inventory,
        store: this.#store,
        clock: this.#clock,
        logger: this.#logger,
        metrics: this.metrics,
        trustDomain,
        ...(this.#publisher ? { publisher: this.#publisher } : {}),
      },
    );
    const acme = await this.#startAcme();
    await acme.start();
    this.#grpc.addService(
      AcmeService,
      audited(acmeHandlers({ ...edge, acme, store: this.#store, trustDomain }), {
        audit: this.audit,
        trustDomain,
        logger: this.#logger,
      }),
    );
    replication.wire(
      {
        active: ca,
        dataDir: config.dataDir,
        passphrase: this.#options.passphrase,
        tokens: this.#tokens,
        trust,
        store: this.#store,
        renewServing: () => servingIdentity.renewNow().then(() => undefined),
        onCaChanged: caChanged,
        reloadJwtKeys: () => jwtKeys.reload(),
      },
      {
        revocation: () => revocation.reload(),
        policy: () => policies.load(),
        rotation: () => orders.load(),
      },
    );
    this.#fleet = new FleetView({
      store: this.#store,
      clock: this.#clock,
      defaultStaleAfterMs: config.fleet.staleAfterMs,
      current: () => {
        const state = trust.trustState();
        return {
          bundleSequence: Number(state.bundleSequence ?? 0),
          crlNumber: Number(state.revocation?.crlNumber ?? 0),
          policyVersion: Number(state.policies?.version ?? 0),
        };
      },
    });
    this.#retention = new RetentionDuty(
      { auditRetentionMs: config.audit.retentionMs, fleetForgetAfterMs: config.fleet.forgetAfterMs },
      { store: this.#store, clock: this.#clock, logger: this.#logger },
    );
    this.#grpc.addService(
      IdentityService,
      identityHandlers({
        ...edge,
        contacts: new SidecarContacts({ store: this.#store, clock: this.#clock, logger: this.#logger }),
        issuer,
        trust,
        trustDomain,
        jwt: jwtKeys,
        x509pop: config.x509pop && x509PopAttestor(config.x509pop, trustDomain, this.#clock),
        // Token guessing: a budget of attestations per source address and 10 s, RESOURCE_EXHAUSTED beyond.
        ...(config.attestPerSourceLimit > 0
          ? {
              attestLimit: new SourceRateLimit(
                { limit: config.attestPerSourceLimit, windowMs: 10_000 },
                { clock: this.#clock },
              ),
            }
          : {}),
      }),
    );
    const admins = new AdminIdentities({
      store: this.#store,
      signer: { trustDomain, issueLeaf: (request) => ca.issueLeaf(request) },
      revocation,
      clock: this.#clock,
    });
    this.#grpc.addService(
      AdminService,
      audited(
        adminHandlers({
          ...edge,
          auditing: { audit: this.audit, admins, fleet: this.#fleet, roots: () => ca.rootsDer() },
          store: this.#store,
          tokens,
          clock: this.#clock,
          trustDomain,
          revocation,
          policies,
          orders,
          caRotation,
          signing: new SigningCertificateIssuer({
            ca,
            store: this.#store,
            clock: this.#clock,
            logger: this.#logger,
            onIssued: (leaf, kind) => this.metrics.issued.inc({ kind, key_type: leaf.keyType }),
          }),
          inventory: this.#inventory,
          scheduled: () => scheduler.preview(),
          onTokenCreated: () => this.metrics.tokensCreated.inc(),
          ...(config.dashboard
            ? {
                dashboardLogin: (admin: { spiffeId: string; serial: string }) => {
                  if (!this.#dashboard) throw new SigilError(ErrorCode.UNAVAILABLE, 'the dashboard is starting');
                  return this.#dashboard.mintLogin(admin);
                },
              }
            : {}),
        }),
        { audit: this.audit, trustDomain, logger: this.#logger },
      ),
    );
    const grpcAddress = await this.#bind(config.listen.grpc, serving.serverCredentials());

    this.#http = new HttpListener({
      logger: this.#logger,
      readiness: () => ({
        ready: this.#addresses !== undefined,
        checks: {
          grpc: {
            ok: this.#addresses !== undefined,
            detail: this.#addresses ? `serving on ${formatHostPort(this.#addresses.grpc)}` : 'starting',
          },
        },
      }),
      metrics: () => this.metrics.render(),
      extra: {
        '/crl': async () => ({ status: 200, contentType: 'application/pkix-crl', body: revocation.snapshot.crlDer }),
        // The trust bundle in the SPIFFE bundle format: X.509 roots and JWT-SVID keys, for JWT verifiers.
        '/bundle.json': async () => ({
          status: 200,
          contentType: 'application/json',
          body: trust.spiffeBundleDocument(),
        }),
      },
    });
    const httpAddress = await this.#http.listen(config.listen.http);
    let dashboardAddress: HostPort | undefined;
    if (config.dashboard) {
      const dashboard = await startDashboard(config.dashboard, {
        dataDir: config.dataDir,
        passphrase: this.#options.passphrase,
        store: this.#store,
        clock: this.#clock,
        logger: this.#logger,
        trustDomain,
        inventory: this.#inventory,
        policies,
        revocation,
        orders,
        caRotation,
        scheduled: () => scheduler.preview(),
        knownIdentities: () => knownSvidIdentities(this.#store, this.#clock),
        auditLog: this.audit,
        audit: {
          list: (q) => this.audit.list({ ...q, since: q.since === undefined ? undefined : new Date(q.since) }),
        },
        fleet: this.#fleet,
        assetsDir: this.#dashboardAssetsDir,
      });
      this.#dashboard = dashboard.server;
      dashboardAddress = dashboard.address;
    }
    this.#addresses = {
      grpc: grpcAddress,
      http: httpAddress,
      ...(dashboardAddress ? { dashboard: dashboardAddress } : {}),
    };
    await this.#writeRuntimeFile(config.dataDir);
    if (this.#publisher) await publishBundle(this.#anchors);
    await caRotation.completeActivation({ windowMs: config.caRotation.activateWindowMs });
    // The rotation schedule, the ACME renewals, alert evaluation and discovery are singleton duties: they run on the
    // replica that holds the leader lock.
    replication.coordination.leadership.onChange((leader) => {
      this.metrics.leader.set(leader ? 1 : 0);
      if (leader) {
        scheduler.start();
        this.#acmeLoop?.start();
        this.#lifecycle?.start();
        this.#retention?.start();
      } else {
        scheduler.stop();
        this.#acmeLoop?.stop();
        this.#lifecycle?.stop();
        this.#retention?.stop();
      }
    });
    this.metrics.leader.set(replication.coordination.leadership.isLeader ? 1 : 0);
    if (replication.coordination.leadership.isLeader) {
      scheduler.start();
      this.#acmeLoop?.start();
      this.#lifecycle?.start();
      this.#retention?.start();
    }
    this.#logger.info(
      { trust_domain: trustDomain, grpc: formatHostPort(grpcAddress), http: formatHostPort(httpAddress) },
      'control plane started',
    );
    return this.#addresses;
  }

  /** Adds root CA certificates (PEM) to the trust bundle and pushes it; returns the new bundle sequence. */
  async addTrustAnchors(pem: string): Promise<number> {
    const anchors = this.#anchors;
    if (!anchors || !this.#replication) throw new SigilError(ErrorCode.UNAVAILABLE, 'the control plane is not started');
    return this.#replication.aroundCaStep(() => addTrustAnchors(pem, anchors));
  }

  async stop(): Promise<void> {
    this.#scheduler?.stop();
    this.#acmeLoop?.stop();
    this.#lifecycle?.close();
    this.#retention?.stop();
    await this.#acme?.stop();
    await this.#replication?.leave();
    this.#serving?.stop();
    await this.#dashboard?.stop();
    await this.#revocation?.stop();
    await this.#publisher?.close();
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.#grpc.forceShutdown();
        resolve();
      }, 5_000);
      this.#grpc.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    await this.#http?.close();
    await this.#store.close();
    await this.#tokens.close();
    this.#addresses = undefined;
    this.#logger.info('control plane stopped');
  }

  /** Loaded on start only: acme-client and its dependencies cost every CLI command half a second to import. */
  async #startAcme(): Promise<AcmeDuty> {
    const { createAcmeDuty } = await import('./acme/acme-duty.ts');
    const { service, loop } = createAcmeDuty(this.#options.config.acme, {
      store: this.#store,
      passphrase: this.#options.passphrase,
      clock: this.#clock,
      logger: this.#logger,
      metrics: this.metrics,
      onAlert: (alert) =>
        void this.#lifecycle?.engine
          .external({
            key: alert.name,
            state: alert.state,
            subject: alert.name,
            notAfter: alert.notAfter,
            message: alert.message,
          })
          .catch(() => undefined),
    });
    this.#acme = service;
    this.#acmeLoop = loop;
    return service;
  }

  #requireRevocation(): RevocationRegistry {
    if (!this.#revocation) throw new SigilError(ErrorCode.UNAVAILABLE, 'the control plane is not started');
    return this.#revocation;
  }

  async #startPublisher(trustDomain: string): Promise<NatsEventPublisher | undefined> {
    const nats = this.#options.config.nats;
    if (!nats) return undefined;
    // The NATS client (about 4 MB of RSS) is loaded by control planes configured with NATS servers only.
    const { NatsEventPublisher } = await import('./events/nats-event-publisher.ts');
    const publisher = new NatsEventPublisher(
      { ...nats, trustDomain },
      {
        store: this.#store,
        signer: () => {
          const current = this.#serving?.current;
          if (!current) throw new SigilError(ErrorCode.UNAVAILABLE, 'no serving identity to sign events with');
          return { chainDer: current.chainDer, privateKey: current.privateKey };
        },
        clock: this.#clock,
        logger: this.#logger,
        ...(this.#replication?.shared
          ? {
              exclusive: (kind, fn) => this.#replication!.exclusive(`event.${kind}`)(fn),
              onOthersEvent: this.#replication.onOthersEvent,
            }
          : {}),
      },
    );
    await publisher.start();
    return publisher;
  }

  #bind(at: HostPort, credentials: ServerCredentials): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      this.#grpc.bindAsync(formatHostPort(at), credentials, (err, port) => {
        if (err)
          reject(
            new SigilError(ErrorCode.UNAVAILABLE, `cannot listen on ${formatHostPort(at)}: ${err.message}`, {
              cause: err,
            }),
          );
        else resolve({ host: at.host, port });
      });
    });
  }

  /** Lets admin commands and tests find a control plane started on port 0. */
  async #writeRuntimeFile(dataDir: string): Promise<void> {
    const a = this.addresses;
    await writeFile(
      join(dataDir, 'control-plane.json'),
      `${JSON.stringify(
        {
          grpc: formatHostPort(a.grpc),
          http: formatHostPort(a.http),
          ...(a.dashboard ? { dashboard: formatHostPort(a.dashboard) } : {}),
          pid: process.pid,
        },
        null,
        2,
      )}\n`,
      { mode: 0o644 },
    );
  }
}

/** SPIFFE IDs with a live SVID: the identities a policy dry run evaluates. */
async function knownSvidIdentities(store: Store, clock: Clock): Promise<string[]> {
  const live = await store.listCertificates({ kind: 'svid', status: 'active', notAfterAfter: clock.now() });
  return [...new Set(live.map((c) => c.spiffeId))];
}

/** Reads the device-CA bundle named in cp.yaml; a missing or unreadable file stops the start with its path. */
function x509PopAttestor(
  settings: { caBundleFile: string; spiffeIdTemplate: string },
  trustDomain: string,
  clock: Clock,
): X509PopAttestor {
  let pem: string;
  try {
    pem = readFileSync(settings.caBundleFile, 'utf8');
  } catch (cause) {
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      `attestation.x509pop.caBundle: cannot read ${settings.caBundleFile}: ${(cause as Error).message}`,
      { cause },
    );
  }
  return new X509PopAttestor({ caBundlePem: pem, spiffeIdTemplate: settings.spiffeIdTemplate }, trustDomain, clock);
}
