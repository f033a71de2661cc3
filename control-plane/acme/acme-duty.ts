import type { AcmeRenewalAlert } from './acme-renewer.ts';
import type { Clock } from '../../common/clock.ts';
import { LogField, type Logger } from '../../common/logger.ts';
import type { ControlPlaneMetrics } from '../metrics.ts';
import type { Store } from '../store/store.ts';
import type { AcmeSettings } from './acme-config.ts';
import { AcmeRenewalLoop } from './acme-renewal-loop.ts';
import { AcmeService } from './acme-service.ts';

const NO_DECLARATIONS: AcmeSettings = {
  accounts: [],
  certificates: [],
  http01Listen: undefined,
  tlsAlpn01Listen: undefined,
  checkIntervalMs: 3_600_000,
};

/**
 * The control plane's ACME duty and its loop, with outcomes turned into metrics and expiry alerts into error logs
 * (`alert: acme-renewal-failing`). Always built: `sigil acme apply` needs no cp.yaml section; challenge listeners
 * only open when configured.
 */
export function createAcmeDuty(
  settings: AcmeSettings | undefined,
  deps: {
    readonly store: Store;
    readonly passphrase: string;
    readonly clock: Clock;
    readonly logger: Logger;
    readonly metrics: ControlPlaneMetrics;
    /** Also hands each alert to the lifecycle's alert engine, which delivers it like expiry alerts. */
    readonly onAlert?: (alert: AcmeRenewalAlert) => void;
  },
): { service: AcmeService; loop: AcmeRenewalLoop } {
  const resolved = settings ?? NO_DECLARATIONS;
  const logger = deps.logger.child({ [LogField.subsystem]: 'acme' });
  const service = new AcmeService(resolved, {
    store: deps.store,
    passphrase: deps.passphrase,
    clock: deps.clock,
    random: Math.random,
    logger,
    onOutcome: (name, result, state) => {
      deps.metrics.acmeRenewals.inc({ name, result });
      deps.metrics.acmeFailures.set({ name }, state.failures);
      if (state.current) deps.metrics.acmeNotAfter.set({ name }, state.current.notAfter / 1000);
    },
    onAlert: (alert) => {
      const fields = {
        alert: 'acme-renewal-failing',
        acme_certificate: alert.name,
        state: alert.state,
        not_after: new Date(alert.notAfter).toISOString(),
        failures: alert.failures,
      };
      if (alert.state === 'firing') logger.error(fields, alert.message);
      else logger.info(fields, alert.message);
      deps.onAlert?.(alert);
    },
  });
  const loop = new AcmeRenewalLoop(
    { intervalMs: resolved.checkIntervalMs },
    { duty: service, clock: deps.clock, logger },
  );
  return { service, loop };
}
