import type { Clock } from '../../common/clock.ts';
import { LogField, type Logger } from '../../common/logger.ts';
import type { EventPublisher } from '../events/event-publisher.ts';
import type { Store } from '../store/store.ts';
import { type AlertRecord, type AlertResolution, planAlerts, type WatchedCertificate } from './alert-plan.ts';
import type { ExpiryPolicy } from './expiry-rule.ts';

/** Where an alert event goes once recorded: logs, webhooks, metrics and NATS all get the same records. */
export interface AlertChannel {
  notify(event: 'raised' | 'resolved', alert: AlertRecord): void;
}

export interface AlertEngineDeps {
  /** Every certificate as the rule needs it (the inventory reads them from its listing, never parsing one). */
  readonly inventory: { watched(): Promise<WatchedCertificate[]> };
  readonly store: Pick<Store, 'listAlerts' | 'raiseAlerts' | 'resolveAlerts'>;
  readonly clock: Clock;
  readonly policy: ExpiryPolicy;
  readonly channels: readonly AlertChannel[];
  /** After each evaluation, with what is in force: feeds the metrics gauges. */
  readonly onEvaluated?: (snapshot: { entries: readonly WatchedCertificate[]; open: readonly AlertRecord[] }) => void;
}

/** Alerts not about expiry (ACME renewals that keep failing) carry this prefix and are left alone by the expiry plan. */
const EXTERNAL_PREFIX = 'acme:';

/**
 * Evaluates the expiry rule over the whole inventory and records the outcome; channels hear only of what this call
 * recorded (the store's raise/resolve report newly written rows), so two leaders in a takeover never notify twice.
 */
export class AlertEngine {
  readonly #deps: AlertEngineDeps;

  constructor(deps: AlertEngineDeps) {
    this.#deps = deps;
  }

  async evaluate(): Promise<{ raised: string[]; resolved: string[] }> {
    const now = this.#deps.clock.now();
    const entries = await this.#deps.inventory.watched();
    const alerts = await this.#deps.store.listAlerts();
    const plan = planAlerts({
      certificates: entries,
      alerts: alerts.filter((a) => !a.alertId.startsWith(EXTERNAL_PREFIX)),
      now,
      policy: this.#deps.policy,
    });
    const resolved = await this.#deps.store.resolveAlerts(plan.resolve, now);
    const raised = await this.#deps.store.raiseAlerts(plan.raise);
    const byId = new Map(alerts.map((a) => [a.alertId, a]));
    const resolutionOf = new Map(plan.resolve.map((r) => [r.alertId, r.resolution]));
    for (const id of resolved) {
      const a = byId.get(id);
      if (a) this.#notify('resolved', { ...a, resolvedAt: now, resolution: resolutionOf.get(id) ?? null });
    }
    for (const a of plan.raise.filter((a) => raised.includes(a.alertId))) this.#notify('raised', a);
    const open = await this.#deps.store.listAlerts({ open: true });
    this.#deps.onEvaluated?.({ entries, open });
    return { raised, resolved };
  }

  /** An alert raised elsewhere (the ACME renewer's): recorded and delivered like expiry alerts. */
  async external(alert: {
    readonly key: string;
    readonly state: 'firing' | 'resolved';
    readonly subject: string;
    readonly notAfter: number;
    readonly message: string;
  }): Promise<void> {
    const now = this.#deps.clock.now();
    const open = (await this.#deps.store.listAlerts({ open: true })).find((a) =>
      a.alertId.startsWith(`${EXTERNAL_PREFIX}${alert.key}/`),
    );
    if (alert.state === 'resolved') {
      if (!open) return;
      const done = await this.#deps.store.resolveAlerts([{ alertId: open.alertId, resolution: 'replaced' }], now);
      if (done.length)
        this.#notify('resolved', { ...open, resolvedAt: now, resolution: 'replaced' as AlertResolution });
      return;
    }
    if (open) return;
    const record: AlertRecord = {
      alertId: `${EXTERNAL_PREFIX}${alert.key}/renewal-failing/${now}`,
      certificateId: `${EXTERNAL_PREFIX}${alert.key}`,
      threshold: 'days-7',
      severity: 'critical',
      source: 'acme',
      serial: '',
      subject: alert.subject,
      owner: '',
      notAfter: alert.notAfter,
      message: alert.message,
      raisedAt: now,
      resolvedAt: null,
      resolution: null,
    };
    if ((await this.#deps.store.raiseAlerts([record])).length) this.#notify('raised', record);
  }

  #notify(event: 'raised' | 'resolved', alert: AlertRecord): void {
    for (const c of this.#deps.channels) {
      try {
        c.notify(event, alert);
      } catch {
        // A channel's failure is its own to report; the others still hear of the alert.
      }
    }
  }
}

/** The log channel: one line per alert event, at error for critical and warn for warnings, info when resolved. */
export function logChannel(logger: Logger): AlertChannel {
  return {
    notify(event, a) {
      const fields = {
        alert: a.alertId,
        event,
        threshold: a.threshold,
        severity: a.severity,
        source: a.source,
        [LogField.serial]: a.serial,
        subject: a.subject,
        owner: a.owner,
        [LogField.notAfter]: new Date(a.notAfter).toISOString(),
        ...(a.resolution ? { resolution: a.resolution } : {}),
      };
      if (event === 'resolved') logger.info(fields, `certificate alert resolved (${a.resolution}): ${a.subject}`);
      else if (a.severity === 'critical') logger.error(fields, a.message);
      else logger.warn(fields, a.message);
    },
  };
}

/**
 * The NATS channel: a signed event of kind "alert" on `sigil.<td>.alert` (DESIGN.md section 5), for operators' tooling.
 * Publishing is best effort like every event; a failure is logged and never holds the evaluation up.
 */
export function eventChannel(publisher: Pick<EventPublisher, 'publish'>, logger: Logger): AlertChannel {
  return {
    notify(event, a) {
      publisher
        .publish({
          type: 'alert.changed',
          event,
          alert: {
            alertId: a.alertId,
            certificateId: a.certificateId,
            threshold: a.threshold,
            severity: a.severity,
            source: a.source,
            serial: a.serial,
            subject: a.subject,
            owner: a.owner,
            notAfter: a.notAfter,
            message: a.message,
            raisedAt: a.raisedAt,
            resolvedAt: a.resolvedAt,
            resolution: a.resolution,
          },
        })
        .catch((err: unknown) =>
          logger.warn({ alert: a.alertId, [LogField.reason]: (err as Error).message }, 'alert event not published'),
        );
    },
  };
}

/** The JSON document webhooks receive. */
export function alertDocument(
  event: 'raised' | 'resolved',
  a: AlertRecord,
  trustDomain: string,
): Record<string, unknown> {
  return {
    type: `certificate.alert.${event}`,
    trustDomain,
    alert: {
      id: a.alertId,
      certificateId: a.certificateId,
      threshold: a.threshold,
      severity: a.severity,
      source: a.source,
      serial: a.serial,
      subject: a.subject,
      owner: a.owner,
      notAfter: new Date(a.notAfter).toISOString(),
      message: a.message,
      raisedAt: new Date(a.raisedAt).toISOString(),
      ...(a.resolvedAt !== null ? { resolvedAt: new Date(a.resolvedAt).toISOString(), resolution: a.resolution } : {}),
    },
  };
}
