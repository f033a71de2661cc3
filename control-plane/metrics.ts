import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** The control plane's Prometheus metrics, on a registry of its own (several control planes may share a process). */
export class ControlPlaneMetrics {
  readonly registry = new Registry();
  readonly issued = new Counter({
    name: 'sigil_ca_issued_total',
    help: 'Certificates issued, by kind and key type',
    labelNames: ['kind', 'key_type'] as const,
    registers: [this.registry],
  });
  readonly refused = new Counter({
    name: 'sigil_ca_refused_total',
    help: 'Issuance requests refused, by RPC and error code',
    labelNames: ['rpc', 'code'] as const,
    registers: [this.registry],
  });
  readonly caNotAfter = new Gauge({
    name: 'sigil_ca_not_after_timestamp_seconds',
    help: 'Expiry of the CA certificates in use',
    labelNames: ['ca'] as const,
    registers: [this.registry],
  });
  readonly tokensCreated = new Counter({
    name: 'sigil_join_tokens_created_total',
    help: 'Join tokens created',
    registers: [this.registry],
  });

  /** cert-manager's naming: one series per certificate in force (superseded and revoked ones are dropped). */
  readonly certificateExpiration = new Gauge({
    name: 'sigil_certificate_expiration_timestamp_seconds',
    help: 'Expiry of every certificate in the inventory that is in force or expired, by serial, subject, source and owner',
    labelNames: ['serial', 'subject', 'source', 'owner'] as const,
    registers: [this.registry],
  });
  readonly certificateAlerts = new Gauge({
    name: 'sigil_certificate_alerts',
    help: 'Open certificate alerts, by severity',
    labelNames: ['severity'] as const,
    registers: [this.registry],
  });

  readonly acmeNotAfter = new Gauge({
    name: 'sigil_acme_cert_not_after_timestamp_seconds',
    help: 'Expiry of the ACME certificate in service, by declared name',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });
  readonly acmeRenewals = new Counter({
    name: 'sigil_acme_renewals_total',
    help: 'ACME renewal attempts, by declared name and result',
    labelNames: ['name', 'result'] as const,
    registers: [this.registry],
  });
  readonly acmeFailures = new Gauge({
    name: 'sigil_acme_renewal_consecutive_failures',
    help: 'Consecutive failed renewal attempts of an ACME certificate (0: healthy)',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'sigil_control_plane_leader',
    help: '1 while this replica holds the singleton lock (CRL re-signing, CA rotation schedule), else 0',
    registers: [this.registry],
  });
  readonly replicaReloads = new Counter({
    name: 'sigil_control_plane_replica_reloads_total',
    help: 'Reloads of state another replica changed, by kind and result',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    // prom-client's own names already begin with process_/nodejs_: the prefix is only ours (sigil_process_cpu_...).
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'sigil_' });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
