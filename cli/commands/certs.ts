import type { Command } from 'commander';
import { X509Certificate } from 'node:crypto';
import { parseDuration } from '../../common/duration.ts';
import type { sigil } from '../../proto/index.ts';
import { withAdmin, withAdminOptions, type AdminFlags } from '../admin-connection.ts';
import { printJson, printTable, type CliIo } from '../io.ts';

function plain(c: sigil.v1.ICertificate) {
  const time = (ms: number | null | undefined) => new Date(Number(ms ?? 0)).toISOString();
  return {
    serial: c.serial ?? '',
    spiffeId: c.spiffeId ?? '',
    kind: c.kind ?? '',
    keyType: c.keyType ?? '',
    status: c.status ?? '',
    notBefore: time(c.notBeforeUnixMs),
    notAfter: time(c.notAfterUnixMs),
    issuedAt: time(c.issuedAtUnixMs),
    issuerSerial: c.issuerSerial || null,
    // Code-signing and TSA certificates have no SPIFFE ID: their subject names them.
    subject: c.der && c.der.length > 0 ? new X509Certificate(c.der).subject.replace(/\n/g, ', ') : '',
  };
}

export function registerCertsCommands(program: Command, io: CliIo): void {
  const certs = program.command('certs').description('the inventory of every certificate the CA issued');
  withAdminOptions(certs.command('list'))
    .description('list certificates')
    .option('--spiffe-id <id>', 'only this identity')
    .option('--expiring <duration>', 'only certificates that expire within this time, e.g. 30d')
    .option('--kind <kind>', 'only root, intermediate, svid, control-plane, admin, acme, code-signing or timestamping')
    .option('--json', 'print JSON')
    .action(async (opts: AdminFlags & { spiffeId?: string; expiring?: string; kind?: string; json?: boolean }) => {
      const expiringWithinSeconds = opts.expiring ? Math.ceil(parseDuration(opts.expiring) / 1000) : 0;
      const res = await withAdmin(io, opts, (api) =>
        api.listCertificates({ spiffeId: opts.spiffeId ?? '', expiringWithinSeconds, kind: opts.kind ?? '' }),
      );
      const rows = res.certificates.map(plain);
      if (opts.json) return printJson(io, rows);
      printTable(
        io,
        ['SERIAL', 'KIND', 'STATUS', 'NOT AFTER', 'SPIFFE ID'],
        rows.map((r) => [r.serial, r.kind, r.status, r.notAfter, r.spiffeId || r.subject]),
      );
    });
  withAdminOptions(certs.command('show'))
    .description('show one certificate')
    .argument('<serial>', 'serial number in hex')
    .option('--json', 'print JSON')
    .option('--pem', 'print the certificate as PEM')
    .action(async (serial: string, opts: AdminFlags & { json?: boolean; pem?: boolean }) => {
      const cert = await withAdmin(io, opts, (api) => api.getCertificate(serial));
      const pem = new X509Certificate(cert.der).toString();
      if (opts.pem) return void io.stdout.write(pem);
      if (opts.json) return printJson(io, { ...plain(cert), pem });
      const p = plain(cert);
      io.stdout.write(
        `${Object.entries(p)
          .map(([k, v]) => `${k.padEnd(13)} ${v ?? '-'}`)
          .join('\n')}\n`,
      );
    });
}
