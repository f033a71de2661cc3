import type { Command } from 'commander';
import { join, resolve } from 'node:path';
import { type AdminFlags, withAdmin, withAdminOptions } from '../admin-connection.ts';
import { type CliIo, printJson, printTable } from '../io.ts';

const time = (ms: unknown) => (Number(ms ?? 0) > 0 ? new Date(Number(ms)).toISOString() : null);

export function registerAdminCommands(program: Command, io: CliIo): void {
  const admin = program
    .command('admin')
    .description('admin identities (spiffe://<td>/sigil/admin/<name>): one per operator, so the audit log says who');

  withAdminOptions(admin.command('create <name>'))
    .description('mint another admin credential: svid.pem, key.pem (0600) and bundle.pem in a new directory')
    .option('--out <dir>', 'where to write the credential (default: <data-dir>/admins/<name>)')
    .option('--key-type <type>', 'ec-p256, ec-p384 or rsa-2048 (default: ec-p256)', 'ec-p256')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: AdminFlags & { out?: string; keyType: string; json?: boolean }) => {
      const { createAdminCredential } = await import('./admin-credential.ts');
      const dataDir = resolve(io.cwd, opts.dataDir ?? io.env['SIGIL_DATA_DIR'] ?? './data');
      const out = resolve(io.cwd, opts.out ?? join(dataDir, 'admins', name));
      const created = await withAdmin(io, opts, (api) =>
        createAdminCredential(api, { name, out, keyType: opts.keyType }),
      );
      if (opts.json) return printJson(io, { ...created, dir: out });
      io.stdout.write(
        `created ${created.spiffeId} (serial ${created.serial}, expires ${created.notAfter})\n` +
          `credential in ${out}: use it with --admin-credentials ${out}\n`,
      );
    });

  withAdminOptions(admin.command('list'))
    .description('list admin identities with their status and who created them')
    .option('--json', 'print JSON')
    .action(async (opts: AdminFlags & { json?: boolean }) => {
      const res = await withAdmin(io, opts, (api) => api.listAdmins());
      const rows = res.admins.map((a) => ({
        name: a.name ?? '',
        spiffeId: a.spiffeId ?? '',
        status: a.status ?? '',
        createdAt: time(a.createdAtUnixMs),
        createdBy: a.createdBy || null,
        revokedAt: time(a.revokedAtUnixMs),
        serial: a.serial ?? '',
        notAfter: time(a.notAfterUnixMs),
      }));
      if (opts.json) return printJson(io, rows);
      printTable(
        io,
        ['NAME', 'STATUS', 'CREATED', 'CREATED BY', 'EXPIRES', 'SPIFFE ID'],
        rows.map((r) => [
          r.name,
          r.status,
          r.createdAt ?? '(ca init)',
          r.createdBy ?? '-',
          r.notAfter ?? '-',
          r.spiffeId,
        ]),
      );
    });

  withAdminOptions(admin.command('revoke <name>'))
    .description('revoke every certificate of an admin identity: its calls are refused from then on (not your own)')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: AdminFlags & { json?: boolean }) => {
      const a = await withAdmin(io, opts, (api) => api.revokeAdmin(name));
      if (opts.json) return printJson(io, { name: a.name, spiffeId: a.spiffeId, status: a.status });
      io.stdout.write(`revoked ${a.spiffeId}: its calls are refused from now on\n`);
    });
}
