import { X509Certificate } from 'node:crypto';
import type { Clock, Timer } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { CaRotation } from '../ca-rotation.ts';
import type { RotationStep } from '../ca/rotation-schedule.ts';
import { certificateFindings } from '../lifecycle/compliance-rules.ts';
import type { InventoryService } from '../lifecycle/inventory-service.ts';
import { explainDecision } from '../policy/explain-decision.ts';
import type { PolicyService } from '../policy/policy-service.ts';
import type { RevocationRegistry } from '../revocation/revocation-registry.ts';
import type { RotationOrderService } from '../rotation/rotation-orders.ts';
import type { Store } from '../store/store.ts';
import type {
  AuditQuery,
  DashboardData,
  InventoryPageQuery,
  Json,
  JsonObject,
  RevokeRequest,
  RotateRequest,
} from './dashboard-data.ts';
import { inventoryRow, rowFactsOf, rowQueryOf } from './inventory-query.ts';

/** The fleet view as the control plane keeps it (control-plane/fleet). */
export interface FleetSource {
  list(options?: { staleAfterMs?: number }): readonly object[] | Promise<readonly object[]>;
}

/** The audit log as the control plane keeps it (control-plane/audit). */
export interface AuditSource {
  list(query: AuditQuery): Promise<{ readonly entries: readonly object[]; readonly next?: string | undefined }>;
}

export interface ControlPlaneDataDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly trustDomain: string;
  readonly inventory: Pick<InventoryService, 'rows' | 'find' | 'counts'>;
  readonly policies: PolicyService;
  readonly revocation: Pick<RevocationRegistry, 'revokeSerial' | 'revokeIdentity' | 'snapshot'>;
  readonly orders: Pick<RotationOrderService, 'order'>;
  readonly caRotation: Pick<CaRotation, 'status' | 'blockers'>;
  readonly scheduled?: () => Promise<RotationStep>;
  readonly knownIdentities: () => Promise<string[]>;
  /** Absent: the sidecars page lists the live SVIDs of the inventory instead. */
  readonly fleet?: FleetSource;
  /** Absent: the audit page says the log is not kept. */
  readonly audit?: AuditSource;
}

/** A sidecar that has not fetched trust state or renewed for this long is shown as stale. */
export const FLEET_STALE_AFTER_MS = 5 * 60_000;
/** Meta keys of signed-out dashboard sessions. */
const SIGNED_OUT_PREFIX = 'dashboard.signed-out.';
/** How often open pages' topics are compared for changes (only while a page listens). */
const WATCH_INTERVAL_MS = 1_000;
const json = (value: unknown) => JSON.parse(JSON.stringify(value)) as Json;

/** The dashboard's data over the control plane's own services: what `sigil` would answer, read in-process. */
export class ControlPlaneData implements DashboardData {
  readonly #deps: ControlPlaneDataDeps;
  readonly #listeners = new Set<(topic: string) => void>();
  #timer: Timer | undefined;
  #digests = new Map<string, string>();

  constructor(deps: ControlPlaneDataDeps) {
    this.#deps = deps;
  }

  async adminActive(serial: string): Promise<boolean> {
    const record = await this.#deps.store.getCertificate(serial);
    return record?.kind === 'admin' && record.status === 'active' && record.notAfter > this.#deps.clock.now();
  }

  // Kept as meta rows (a few bytes per sign-out, in the store every replica reads), named by the session's random id.
  async sessionSignedOut(sessionId: string): Promise<boolean> {
    return (await this.#deps.store.getMeta(`${SIGNED_OUT_PREFIX}${sessionId}`)) !== undefined;
  }

  async signOut(sessionId: string, until: number): Promise<void> {
    await this.#deps.store.setMeta(`${SIGNED_OUT_PREFIX}${sessionId}`, String(until));
  }

  async overview(): Promise<JsonObject> {
    const now = this.#deps.clock.now();
    const [certificates, next, alerts, ca, sidecars] = await Promise.all([
      this.#deps.inventory.counts(),
      this.#deps.inventory.rows({ status: 'active', sort: 'notAfter', limit: 40 }),
      this.#deps.store.listAlerts({ open: true }),
      this.#deps.caRotation.status(),
      this.#sidecarRows(),
    ]);
    return {
      now,
      certificates,
      sidecars: { total: sidecars.length, stale: sidecars.filter((s) => s['stale'] === true).length },
      openAlerts: alerts.length,
      alerts: alerts.slice(0, 5).map((a) => ({ alertId: a.alertId, severity: a.severity, message: a.message })),
      revocations: { crlNumber: this.#deps.revocation.snapshot.crlNumber },
      policyVersion: this.#deps.policies.wire.version ?? 0,
      ca: {
        phase: ca.phase,
        intermediateNotAfter: ca.current.intermediate.notAfter,
        rootNotAfter: ca.current.root.notAfter,
      },
      nextExpiries: next.rows.map((r) => inventoryRow(rowFactsOf(r))),
    };
  }

  async sidecars(): Promise<JsonObject> {
    return {
      staleAfterMs: FLEET_STALE_AFTER_MS,
      fromFleet: this.#deps.fleet !== undefined,
      sidecars: await this.#sidecarRows(),
    };
  }

  async #sidecarRows(): Promise<JsonObject[]> {
    const now = this.#deps.clock.now();
    if (this.#deps.fleet) {
      const records = await this.#deps.fleet.list({ staleAfterMs: FLEET_STALE_AFTER_MS });
      return records.map((r) => json(r) as JsonObject);
    }
    const live = await this.#deps.store.listCertificates({ kind: 'svid', status: 'active', notAfterAfter: now });
    return live
      .filter((c) => !c.supersededBy)
      .map((c) => ({
        spiffeId: c.spiffeId,
        instanceId: `svid:${c.serial}`,
        svidSerial: c.serial,
        svidNotAfter: c.notAfter,
        lastSeenAt: c.issuedAt,
        stale: false,
      }));
  }

  async inventory(query: InventoryPageQuery): Promise<JsonObject> {
    const started = performance.now();
    const q = rowQueryOf(query);
    const { rows, total } = await this.#deps.inventory.rows(q);
    return {
      total,
      offset: q.offset ?? 0,
      limit: q.limit,
      entries: rows.map((r) => inventoryRow(rowFactsOf(r))),
      serverMs: Math.round(performance.now() - started),
    };
  }

  async certificate(id: string): Promise<JsonObject | undefined> {
    const entry = (await this.#deps.inventory.find(id))[0];
    if (!entry) return undefined;
    const chain = entry.chain.map((der) => {
      const c = new X509Certificate(der);
      return {
        subject: c.subject,
        issuer: c.issuer,
        serial: c.serialNumber.toLowerCase(),
        notAfter: Date.parse(c.validTo),
      };
    });
    const revocation = entry.status === 'revoked' ? await this.#deps.store.getRevocation(entry.serial) : undefined;
    return {
      ...inventoryRow(entry),
      subject: entry.subject,
      issuer: entry.issuer,
      notBefore: entry.notBefore,
      signatureAlgorithm: entry.signatureAlgorithm,
      dnsNames: [...entry.dnsNames],
      uris: [...entry.uris],
      ips: [...entry.ips],
      labels: { ...entry.labels },
      fingerprintSha256: entry.fingerprintSha256,
      isCa: entry.isCa,
      supersededBy: entry.supersededBy,
      seen: entry.seen.map((s) => ({ ...s })),
      chain,
      findings: certificateFindings(entry).map((f) => ({ ...f })),
      revocation: revocation ? { reason: revocation.reason, revokedAt: revocation.revokedAt } : null,
    };
  }

  async policies(): Promise<JsonObject> {
    const current = this.#deps.policies.wire;
    const latest = current.version ?? 0;
    const versions: JsonObject[] = [];
    for (let v = latest; v >= 1 && versions.length < 50; v--) {
      const stored = await this.#deps.policies.storedVersion(v);
      if (stored) versions.push({ version: v, appliedAt: stored.appliedAt, names: stored.policies.map((p) => p.name) });
    }
    return {
      version: latest,
      defaultAction: current.defaultAction ?? 'deny',
      policies: json(this.#deps.policies.list()),
      versions,
    };
  }

  async policyVersion(version: number): Promise<JsonObject | undefined> {
    const stored = await this.#deps.policies.storedVersion(version);
    return stored ? { version, appliedAt: stored.appliedAt, policies: json(stored.policies) } : undefined;
  }

  async explain(from: string, to: string, port: number): Promise<JsonObject> {
    return {
      ...(await explainDecision(
        { policies: this.#deps.policies, revokedIdentity: (id) => this.#deps.store.getRevokedIdentity(id) },
        from,
        to,
        port,
      )),
    };
  }

  async policyDryRun(yaml: string): Promise<JsonObject> {
    const r = await this.#deps.policies.apply(yaml, {
      source: 'dashboard',
      dryRun: true,
      knownIdentities: this.#deps.knownIdentities,
    });
    return json(r) as JsonObject;
  }

  async revocations(): Promise<JsonObject> {
    const [serials, identities] = await Promise.all([
      this.#deps.store.listRevocations(),
      this.#deps.store.listRevokedIdentities(),
    ]);
    return {
      crlNumber: this.#deps.revocation.snapshot.crlNumber,
      serials: serials
        .sort((a, b) => b.revokedAt - a.revokedAt)
        .map((r) => ({
          serial: r.serial,
          spiffeId: r.spiffeId,
          reason: r.reason,
          revokedAt: r.revokedAt,
          notAfter: r.notAfter,
        })),
      identities: identities.map((r) => ({ ...r })),
    };
  }

  async ca(): Promise<JsonObject> {
    const [status, blockers, scheduled] = await Promise.all([
      this.#deps.caRotation.status(),
      this.#deps.caRotation.blockers(),
      this.#deps.scheduled?.() ?? Promise.resolve<RotationStep>({ step: 'none' }),
    ]);
    return {
      ...(json(status) as JsonObject),
      scheduled: json(scheduled),
      retireBlockers: blockers.map((c) => ({
        serial: c.serial,
        spiffeId: c.spiffeId,
        kind: c.kind,
        notAfter: c.notAfter,
      })),
    };
  }

  async alerts(): Promise<JsonObject> {
    const [alerts, acks] = await Promise.all([this.#deps.store.listAlerts(), this.#acknowledgements()]);
    return {
      alerts: alerts
        .sort((a, b) => b.raisedAt - a.raisedAt)
        .map((a) => ({ ...(json(a) as JsonObject), acknowledged: acks.get(a.alertId) ?? null })),
    };
  }

  /**
   * Acknowledgements are audit entries: who saw an alert, and when, is exactly what the log keeps. Read from the
   * last 30 days, at most 10,000 entries.
   */
  async #acknowledgements(): Promise<Map<string, JsonObject>> {
    const acks = new Map<string, JsonObject>();
    const audit = this.#deps.audit;
    if (!audit) return acks;
    let after: string | undefined;
    const since = this.#deps.clock.now() - 30 * 86_400_000;
    for (let page = 0; page < 10; page++) {
      const { entries, next } = await audit.list({ since, limit: 1000, ...(after ? { after } : {}) });
      for (const e of entries as { action?: string; result?: string; target?: string; actor?: string; at?: unknown }[])
        if (e.action === 'alert.acknowledge' && e.result === 'ok' && e.target)
          acks.set(e.target, { by: e.actor ?? '', at: new Date(e.at as number).getTime() });
      if (!next) break;
      after = next;
    }
    return acks;
  }

  async audit(query: AuditQuery): Promise<JsonObject> {
    if (!this.#deps.audit) return { kept: false, entries: [] };
    const page = await this.#deps.audit.list(query);
    return { kept: true, entries: json(page.entries), ...(page.next ? { next: page.next } : {}) };
  }

  async revoke(request: RevokeRequest): Promise<JsonObject> {
    const common = { reason: request.reason };
    const r = request.serial
      ? await this.#deps.revocation.revokeSerial({ serial: request.serial, ...common })
      : await this.#deps.revocation.revokeIdentity({ spiffeId: request.spiffeId ?? '', ...common });
    this.#poke();
    return { revokedSerials: [...r.revokedSerials], crlNumber: r.crlNumber };
  }

  async rotate(request: RotateRequest): Promise<JsonObject> {
    const view = await this.#deps.orders.order(
      {
        spiffeId: request.spiffeId ?? '',
        prefix: request.prefix ?? '',
        all: request.all === true,
        windowMs: request.windowMs,
      },
      'operator',
    );
    return { orderId: view.order.orderId, targets: [...view.targets], pending: [...view.pending] };
  }

  async acknowledge(alertId: string): Promise<JsonObject> {
    const alert = (await this.#deps.store.listAlerts()).find((a) => a.alertId === alertId);
    if (!alert) throw new SigilError(ErrorCode.NOT_FOUND, `no alert ${alertId}: it may have been resolved and pruned`);
    this.#poke();
    return { alertId };
  }

  watch(listener: (topic: string) => void): () => void {
    this.#listeners.add(listener);
    if (!this.#timer) {
      // The first comparison only takes the fingerprints changes are told from.
      this.#digests = new Map();
      void this.#compare();
      this.#arm();
    }
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) {
        this.#timer?.cancel();
        this.#timer = undefined;
      }
    };
  }

  #arm(): void {
    this.#timer = this.#deps.clock.setTimer(WATCH_INTERVAL_MS, () => {
      void this.#compare().finally(() => {
        if (this.#listeners.size > 0) this.#arm();
      });
    });
  }

  /** Checks soon rather than at the next tick: the page that made a change sees it at once. */
  #poke(): void {
    if (this.#listeners.size === 0) return;
    void this.#compare();
  }

  /** Cheap fingerprints of what each page shows; a topic whose fingerprint moved is announced. */
  async #compare(): Promise<void> {
    try {
      const [fleet, alerts, ca, audit] = await Promise.all([
        this.#sidecarRows(),
        this.#deps.store.listAlerts({ open: true }),
        this.#deps.caRotation.status(),
        // Oldest first: the recent window's size and last id move when anything is recorded.
        this.#deps.audit?.list({ since: this.#deps.clock.now() - 600_000, limit: 1000 }) ??
          Promise.resolve({ entries: [] }),
      ]);
      const digests = new Map<string, string>([
        ['fleet', JSON.stringify(fleet)],
        ['revocations', String(this.#deps.revocation.snapshot.crlNumber)],
        ['policies', String(this.#deps.policies.wire.version)],
        ['alerts', JSON.stringify(alerts.map((a) => a.alertId))],
        ['ca', `${ca.phase}/${ca.bundleSequence}`],
        ['audit', `${audit.entries.length}/${JSON.stringify(audit.entries.at(-1) ?? null)}`],
      ]);
      const before = this.#digests;
      this.#digests = digests;
      if (before.size === 0) return;
      for (const [topic, digest] of digests)
        if (before.get(topic) !== digest) for (const l of this.#listeners) l(topic);
    } catch {
      // A failed comparison (the store briefly away) is retried at the next tick; pages keep what they show.
    }
  }
}
