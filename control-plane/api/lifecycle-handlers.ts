import type { ServerUnaryCall } from '@grpc/grpc-js';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { AdminServer, sigil } from '../../proto/index.ts';
import { certificateFindings } from '../lifecycle/compliance-rules.ts';
import type { InventoryEntry, InventorySource, InventoryStatus } from '../lifecycle/inventory-entry.ts';
import type { InventoryService } from '../lifecycle/inventory-service.ts';
import type { Store } from '../store/store.ts';
import { unary, type UnaryEdgeDeps } from './unary.ts';

export interface LifecycleHandlerDeps extends UnaryEdgeDeps {
  readonly inventory: Pick<InventoryService, 'list' | 'record' | 'annotate'>;
  readonly store: Pick<Store, 'listAlerts' | 'listAlertDeliveries'>;
  readonly guard: (call: ServerUnaryCall<unknown, unknown>) => Promise<void>;
}

/** At most this many certificates per import call: the CLI sends files in batches below it. */
const IMPORT_MAX = 1000;

export function entryMessage(e: InventoryEntry, withFindings = false): sigil.v1.IInventoryEntry {
  return {
    id: e.id,
    source: e.source,
    kind: e.kind,
    name: e.name,
    serial: e.serial,
    subject: e.subject,
    issuer: e.issuer,
    owner: e.owner,
    labels: { ...e.labels },
    status: e.status,
    notBeforeUnixMs: e.notBefore,
    notAfterUnixMs: e.notAfter,
    keyAlgorithm: e.keyAlgorithm,
    keyBits: e.keyBits,
    signatureAlgorithm: e.signatureAlgorithm,
    dnsNames: [...e.dnsNames],
    uris: [...e.uris],
    ips: [...e.ips],
    sha1: e.fingerprintSha1,
    seen: e.seen.map((s) => ({ location: s.location, firstSeenUnixMs: s.firstSeen, lastSeenUnixMs: s.lastSeen })),
    chainLength: e.chain.length,
    der: e.der,
    findings: withFindings ? certificateFindings(e) : [],
    supersededBy: e.supersededBy ?? '',
  };
}

export function lifecycleHandlers(
  deps: LifecycleHandlerDeps,
): Pick<AdminServer, 'listInventory' | 'importCertificates' | 'labelCertificate' | 'listAlerts'> {
  return {
    listInventory: unary('ListInventory', deps, async (request: sigil.v1.ListInventoryRequest, call) => {
      await deps.guard(call);
      const page = await deps.inventory.list({
        ...(request.source ? { source: request.source as InventorySource } : {}),
        ...(request.owner ? { owner: request.owner } : {}),
        ...(Object.keys(request.labels).length ? { labels: request.labels } : {}),
        ...(request.status ? { status: request.status as InventoryStatus } : {}),
        ...(request.expiringWithinSeconds > 0
          ? { expiringWithinMs: Number(request.expiringWithinSeconds) * 1000 }
          : {}),
        ...(request.spiffeId ? { spiffeId: request.spiffeId } : {}),
        ...(request.kind ? { kind: request.kind } : {}),
        pageSize: request.pageSize,
        pageToken: request.pageToken,
      });
      return {
        entries: page.entries.map((e) => entryMessage(e, request.withFindings)),
        nextPageToken: page.nextPageToken,
        total: page.total,
      };
    }),
    importCertificates: unary('ImportCertificates', deps, async (request: sigil.v1.ImportCertificatesRequest, call) => {
      await deps.guard(call);
      if (request.source !== 'imported' && request.source !== 'discovered')
        throw new SigilError(ErrorCode.INVALID_ARGUMENT, 'source must be imported or discovered');
      const count = request.batches.reduce((n, b) => n + (b.certificates?.length ?? 0), 0);
      if (count === 0 || count > IMPORT_MAX)
        throw new SigilError(
          ErrorCode.INVALID_ARGUMENT,
          `an import carries 1 to ${IMPORT_MAX} certificates, not ${count}: split it`,
        );
      const entries = await deps.inventory.record(
        request.source,
        request.batches.map((b) => ({ location: b.location ?? '', certificates: b.certificates ?? [] })),
        { owner: request.owner, labels: request.labels },
      );
      return { entries: entries.map((e) => entryMessage(e, true)) };
    }),
    labelCertificate: unary('LabelCertificate', deps, async (request: sigil.v1.LabelCertificateRequest, call) => {
      await deps.guard(call);
      const entry = await deps.inventory.annotate(request.certificate, {
        owner: request.owner,
        labels: request.labels,
      });
      return entryMessage(entry, true);
    }),
    listAlerts: unary('ListAlerts', deps, async (request: sigil.v1.ListAlertsRequest, call) => {
      await deps.guard(call);
      const [alerts, deliveries] = await Promise.all([
        deps.store.listAlerts({ open: request.openOnly }),
        deps.store.listAlertDeliveries(),
      ]);
      return {
        alerts: alerts.map((a) => ({
          alertId: a.alertId,
          certificateId: a.certificateId,
          threshold: a.threshold,
          severity: a.severity,
          source: a.source,
          serial: a.serial,
          subject: a.subject,
          owner: a.owner,
          notAfterUnixMs: a.notAfter,
          message: a.message,
          raisedAtUnixMs: a.raisedAt,
          resolvedAtUnixMs: a.resolvedAt ?? 0,
          resolution: a.resolution ?? '',
          deliveries: deliveries
            .filter((d) => d.alertId === a.alertId)
            .map((d) => ({
              event: d.event,
              channel: d.channel,
              target: d.target,
              attempt: d.attempt,
              attemptedAtUnixMs: d.attemptedAt,
              outcome: d.outcome,
              detail: d.detail,
            })),
        })),
      };
    }),
  };
}
