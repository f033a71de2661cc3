import type { Clock, Timer } from '../../common/clock.ts';
import { LogField, type Logger } from '../../common/logger.ts';
import type { ControlPlaneMetrics } from '../metrics.ts';
import type { Store } from '../store/store.ts';
import type { EventPublisher } from '../events/event-publisher.ts';
import { AlertEngine, alertDocument, eventChannel, logChannel, type AlertChannel } from './alert-engine.ts';
import { parseHostPort } from './host-port.ts';
import type { InventoryService } from './inventory-service.ts';
import type { AlertSettings, DiscoverySettings } from './lifecycle-config.ts';
import { fetchServedChain } from './served-chain.ts';
import { WebhookSender } from './webhook-sender.ts';

export interface LifecycleDutyDeps {
  readonly inventory: InventoryService;
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: ControlPlaneMetrics;
  readonly trustDomain: string;
  /** With NATS configured: alerts are also published as signed events of kind "alert". */
  readonly publisher?: EventPublisher;
}

/**
 * The lifecycle's singleton duties, run by the leader only (DESIGN.md section 7): alert evaluation every
 * `alerts.every` and scheduled discovery every `discovery.every`. Both loops log and count failures and carry on;
 * a round never throws out, and webhook deliveries never hold a round up.
 */
export class LifecycleDuty {
  readonly engine: AlertEngine;
  readonly #webhooks: WebhookSender[];
  readonly #alerts: AlertSettings;
  readonly #discovery: DiscoverySettings;
  readonly #deps: LifecycleDutyDeps;
  #alertTimer: Timer | undefined;
  #discoveryTimer: Timer | undefined;
  #running = false;

  constructor(settings: { alerts: AlertSettings; discovery: DiscoverySettings }, deps: LifecycleDutyDeps) {
    this.#alerts = settings.alerts;
    this.#discovery = settings.discovery;
    this.#deps = deps;
    const logger = deps.logger.child({ component: 'lifecycle' });
    this.#webhooks = settings.alerts.webhooks.map(
      (w) =>
        new WebhookSender(
          {
            target: { url: w.url, secret: w.secret },
            maxAttempts: w.maxAttempts,
            initialBackoffMs: w.initialBackoffMs,
            maxBackoffMs: w.maxBackoffMs,
          },
          {
            store: deps.store,
            clock: deps.clock,
            onGiveUp: (alertId, detail) =>
              logger.error({ alert: alertId, webhook: w.url, detail }, 'alert webhook gave up after its last attempt'),
          },
        ),
    );
    const webhookChannel: AlertChannel = {
      notify: (event, alert) => {
        const body = alertDocument(event, alert, deps.trustDomain);
        for (const w of this.#webhooks) w.send({ alertId: alert.alertId, event, body });
      },
    };
    this.engine = new AlertEngine({
      inventory: deps.inventory,
      store: deps.store,
      clock: deps.clock,
      policy: settings.alerts.policy,
      channels: [logChannel(logger), webhookChannel, ...(deps.publisher ? [eventChannel(deps.publisher, logger)] : [])],
      onEvaluated: ({ entries, open }) => {
        const m = deps.metrics;
        m.certificateExpiration.reset();
        for (const e of entries) {
          if (e.status === 'superseded' || e.status === 'revoked') continue;
          m.certificateExpiration.set(
            { serial: e.serial, subject: e.subject, source: e.source, owner: e.owner },
            e.notAfter / 1000,
          );
        }
        m.certificateAlerts.reset();
        m.certificateAlerts.set({ severity: 'warning' }, open.filter((a) => a.severity === 'warning').length);
        m.certificateAlerts.set({ severity: 'critical' }, open.filter((a) => a.severity === 'critical').length);
      },
    });
    this.#logger = logger;
  }

  readonly #logger: Logger;

  start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#alertRound();
    if (this.#discovery.targets.length > 0) void this.#discoveryRound();
  }

  stop(): void {
    this.#running = false;
    this.#alertTimer?.cancel();
    this.#discoveryTimer?.cancel();
  }

  /** Stops the loops and drops pending webhook retries (the alerts stay recorded). */
  close(): void {
    this.stop();
    for (const w of this.#webhooks) w.stop();
  }

  /** Resolves once no webhook attempt is running or waiting: for tests. */
  async settled(): Promise<void> {
    await Promise.all(this.#webhooks.map((w) => w.settled()));
  }

  async #alertRound(): Promise<void> {
    try {
      await this.engine.evaluate();
    } catch (err) {
      this.#logger.warn(
        { [LogField.errCode]: (err as { code?: string }).code, msg_detail: String(err) },
        'alert evaluation failed; retrying at the next round',
      );
    }
    if (this.#running)
      this.#alertTimer = this.#deps.clock.setTimer(this.#alerts.everyMs, () => void this.#alertRound());
  }

  async #discoveryRound(): Promise<void> {
    for (const target of this.#discovery.targets) {
      if (!this.#running) return;
      try {
        const { host, port } = parseHostPort(target);
        const served = await fetchServedChain({ host, port, timeoutMs: this.#discovery.timeoutMs });
        await this.#deps.inventory.record('discovered', [{ location: target, certificates: served.chain }]);
      } catch (err) {
        this.#logger.warn(
          { endpoint: target, msg_detail: (err as Error).message },
          'scheduled discovery failed for an endpoint',
        );
      }
    }
    if (this.#running)
      this.#discoveryTimer = this.#deps.clock.setTimer(this.#discovery.everyMs, () => void this.#discoveryRound());
  }
}
