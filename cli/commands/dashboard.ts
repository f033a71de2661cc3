import type { Command } from 'commander';
import { type AdminFlags, withAdmin, withAdminOptions } from '../admin-connection.ts';
import { type CliIo, printJson } from '../io.ts';

export function registerDashboardCommands(program: Command, io: CliIo): void {
  const dashboard = program.command('dashboard').description('the operator dashboard served by the control plane');
  withAdminOptions(dashboard.command('login'))
    .description(
      'print a one-time URL (valid 2 minutes) that signs this admin in to the dashboard; the session lasts until 8 h idle',
    )
    .option('--json', 'print JSON')
    .action(async (opts: AdminFlags & { json?: boolean }) => {
      const login = await withAdmin(io, opts, (api) => api.createDashboardLogin());
      const expiresAt = new Date(Number(login.expiresAtUnixMs)).toISOString();
      if (opts.json) return printJson(io, { url: login.url, expiresAt });
      // The URL is a credential until used: it goes to stdout only, for the operator's browser.
      io.stdout.write(`${login.url}\n`);
      io.stderr.write(`open it in a browser before ${expiresAt}; it signs in once\n`);
    });
}
