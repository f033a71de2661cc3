import type { Command } from 'commander';
import { type AdminFlags, withAdmin, withAdminOptions } from '../admin-connection.ts';
import { type CliIo, printJson, printTable } from '../io.ts';

export function registerAlertsCommands(program: Command, io: CliIo): void {
  const alerts = program.command('alerts').description('certificate expiry alerts and their deliveries');
  withAdminOptions(alerts.command('list'))
    .description('list alerts, newest last, with every delivery attempt')
    .option('--open', 'only alerts not yet resolved')
    .option('--json', 'print JSON')
    .action(async (opts: AdminFlags & { open?: boolean; json?: boolean }) => {
      const res = await withAdmin(io, opts, (api) => api.listAlerts({ openOnly: opts.open ?? false }));
      const time = (ms: number | null | undefined) => (Number(ms ?? 0) > 0 ? new Date(Number(ms)).toISOString() : null);
      const rows = res.alerts.map((a) => ({
        id: a.alertId ?? '',
        threshold: a.threshold ?? '',
        severity: a.severity ?? '',
        source: a.source ?? '',
        serial: a.serial ?? '',
        subject: a.subject ?? '',
        owner: a.owner ?? '',
        notAfter: time(a.notAfterUnixMs),
        message: a.message ?? '',
        raisedAt: time(a.raisedAtUnixMs),
        resolvedAt: time(a.resolvedAtUnixMs),
        resolution: a.resolution || null,
        deliveries: (a.deliveries ?? []).map((d) => ({
          channel: d.channel ?? '',
          target: d.target ?? '',
          event: d.event ?? '',
          attempt: d.attempt,
          at: time(d.attemptedAtUnixMs),
          outcome: d.outcome ?? '',
          detail: d.detail ?? '',
        })),
      }));
      if (opts.json) return printJson(io, rows);
      printTable(
        io,
        ['RAISED', 'SEVERITY', 'THRESHOLD', 'STATE', 'DELIVERIES', 'MESSAGE'],
        rows.map((r) => [
          r.raisedAt ?? '-',
          r.severity,
          r.threshold,
          r.resolution ? `resolved (${r.resolution})` : 'open',
          r.deliveries.length === 0
            ? '-'
            : `${r.deliveries.filter((d) => d.outcome === 'delivered').length}/${r.deliveries.length} ok`,
          r.message,
        ]),
      );
    });
}
