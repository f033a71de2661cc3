import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { sigil } from '../../proto/index.ts';
import { withAdmin, withAdminOptions, type AdminFlags } from '../admin-connection.ts';
import { printJson, printTable, type CliIo } from '../io.ts';

const time = (ms: number | null | undefined) => (ms ? new Date(Number(ms)).toISOString() : '-');

function plain(s: sigil.v1.IAcmeCertificateStatus) {
  return {
    name: s.name ?? '',
    status: s.status ?? '',
    names: s.names ?? [],
    account: s.account ?? '',
    accountUrl: s.accountUrl || null,
    challenge: s.challenge ?? '',
    profile: s.profile || null,
    source: s.source ?? '',
    installDir: s.installDir ?? '',
    serial: s.serial || null,
    notBefore: time(s.notBeforeUnixMs),
    notAfter: time(s.notAfterUnixMs),
    orderUrl: s.orderUrl || null,
    renewAt: time(s.renewAtUnixMs),
    renewalBasis: s.renewalBasis || null,
    ariWindow: s.ariWindowStartUnixMs ? `${time(s.ariWindowStartUnixMs)} .. ${time(s.ariWindowEndUnixMs)}` : null,
    nextAttempt: time(s.nextAttemptUnixMs),
    failures: s.failures ?? 0,
    lastError: s.lastError ? `${s.lastError} [${s.lastErrorCode}]` : null,
  };
}

function printStatus(io: CliIo, status: sigil.v1.IAcmeCertificateStatus, json: boolean | undefined): void {
  const p = plain(status);
  if (json) {
    printJson(io, p);
    return;
  }
  io.stdout.write(
    `${Object.entries(p)
      .map(([k, v]) => `${k.padEnd(13)} ${Array.isArray(v) ? v.join(', ') : (v ?? '-')}`)
      .join('\n')}\n`,
  );
}

export function registerAcmeCommands(program: Command, io: CliIo): void {
  const acme = program
    .command('acme')
    .description('public certificates obtained and renewed over ACME (RFC 8555, renewal information RFC 9773)');
  withAdminOptions(acme.command('apply'))
    .description('declare ACME accounts and certificates (replaces the previously applied document)')
    .requiredOption('-f, --file <file>', 'YAML document: apiVersion sigil.dev/v1, kind AcmeCertificates')
    .action(async (opts: AdminFlags & { file: string }) => {
      const path = resolve(io.cwd, opts.file);
      let document: string;
      try {
        document = readFileSync(path, 'utf8');
      } catch (err) {
        throw new SigilError(
          ErrorCode.INVALID_ARGUMENT,
          `cannot read ${opts.file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`,
        );
      }
      const res = await withAdmin(io, opts, (api) =>
        api.applyAcme({ document, baseDir: dirname(path), source: opts.file }),
      );
      io.stdout.write(`applied ${res.accounts} account(s) and ${res.certificates} certificate(s)\n`);
    });
  withAdminOptions(acme.command('list'))
    .description('list declared certificates and how their renewal stands')
    .option('--json', 'print JSON')
    .action(async (opts: AdminFlags & { json?: boolean }) => {
      const res = await withAdmin(io, opts, (api) => api.listAcme());
      const rows = res.certificates.map(plain);
      if (opts.json) return printJson(io, rows);
      printTable(
        io,
        ['NAME', 'STATUS', 'NOT AFTER', 'RENEW AT', 'BASIS', 'NAMES'],
        rows.map((r) => [r.name, r.status, r.notAfter, r.renewAt, r.renewalBasis ?? '-', r.names.join(',')]),
      );
    });
  withAdminOptions(acme.command('show'))
    .description('show one certificate: serial, order, ARI window, next attempt, last error')
    .argument('<name>', 'declared certificate name')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: AdminFlags & { json?: boolean }) => {
      const res = await withAdmin(io, opts, (api) => api.listAcme(name));
      printStatus(io, res.certificates[0] ?? {}, opts.json);
    });
  withAdminOptions(acme.command('renew'))
    .description('renew now if due (--force: even if not due); waits for the order to finish')
    .argument('<name>', 'declared certificate name')
    .option('--force', 'renew even if not due')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: AdminFlags & { force?: boolean; json?: boolean }) => {
      printStatus(io, await withAdmin(io, opts, (api) => api.renewAcme(name, opts.force === true)), opts.json);
    });
  withAdminOptions(acme.command('revoke'))
    .description('revoke the certificate in service through the ACME server; the next check replaces it')
    .argument('<name>', 'declared certificate name')
    .option('--reason <reason>', 'RFC 5280 reason: keyCompromise, superseded, cessationOfOperation, ...', '')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: AdminFlags & { reason: string; json?: boolean }) => {
      printStatus(io, await withAdmin(io, opts, (api) => api.revokeAcme(name, opts.reason)), opts.json);
    });
  withAdminOptions(acme.command('rollover'))
    .description("replace an ACME account's key (RFC 8555 7.3.5); the account keeps its URL")
    .argument('<account>', 'declared account name')
    .action(async (account: string, opts: AdminFlags) => {
      const res = await withAdmin(io, opts, (api) => api.rolloverAcmeAccount(account));
      io.stdout.write(`account ${account} (${res.accountUrl}) now signs with a new key\n`);
    });
}
