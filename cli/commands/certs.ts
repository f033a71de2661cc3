import type { Command } from 'commander';
import { X509Certificate } from 'node:crypto';
import { resolve } from 'node:path';
import { parseDuration } from '../../common/duration.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { sigil } from '../../proto/index.ts';
import { type AdminFlags, withAdmin, withAdminOptions } from '../admin-connection.ts';
import { type CliIo, printJson, printTable } from '../io.ts';
import { firstLine } from '../secrets.ts';
import { registerDiscoverCommand } from './certs-discover.ts';

/** An inventory entry as printed (--json, --csv): the fields `certs list` always had, then the lifecycle ones. */
export function inventoryRow(e: sigil.v1.IInventoryEntry) {
  const time = (ms: number | null | undefined) => new Date(Number(ms ?? 0)).toISOString();
  const bits = e.keyBits ?? 0;
  return {
    serial: e.serial ?? '',
    spiffeId: e.uris?.[0] ?? (e.source === 'issued' ? (e.name ?? '') : ''),
    kind: e.kind ?? '',
    keyType: e.keyAlgorithm === 'ec' ? `ec-p${bits}` : `${e.keyAlgorithm ?? ''}-${bits}`,
    status: e.status ?? '',
    notBefore: time(e.notBeforeUnixMs),
    notAfter: time(e.notAfterUnixMs),
    subject: e.subject ?? '',
    id: e.id ?? '',
    source: e.source ?? '',
    name: e.name ?? '',
    owner: e.owner ?? '',
    labels: { ...(e.labels ?? {}) },
    issuer: e.issuer ?? '',
    keyAlgorithm: e.keyAlgorithm ?? '',
    keyBits: bits,
    signatureAlgorithm: e.signatureAlgorithm ?? '',
    dnsNames: e.dnsNames ?? [],
    uris: e.uris ?? [],
    ips: e.ips ?? [],
    sha256: e.id ?? '',
    sha1: e.sha1 ?? '',
    chainLength: e.chainLength ?? 0,
    supersededBy: e.supersededBy || null,
    seen: (e.seen ?? []).map((s) => ({
      location: s.location ?? '',
      firstSeen: time(s.firstSeenUnixMs),
      lastSeen: time(s.lastSeenUnixMs),
    })),
    findings: (e.findings ?? []).map((f) => ({ ruleId: f.ruleId, severity: f.severity, message: f.message })),
  };
}

const CSV_COLUMNS = [
  'id',
  'source',
  'status',
  'serial',
  'name',
  'subject',
  'owner',
  'notBefore',
  'notAfter',
  'keyType',
  'signatureAlgorithm',
] as const;

function csvCell(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** `k=v` flags into a map; a malformed one is a usage error naming it. */
export function parseLabels(values: readonly string[] = []): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const v of values) {
    const m = /^([A-Za-z0-9_.\-/]+)=(.*)$/.exec(v);
    if (!m) throw new SigilError(ErrorCode.INVALID_ARGUMENT, `label ${JSON.stringify(v)} is not KEY=VALUE`);
    labels[m[1] as string] = m[2] as string;
  }
  return labels;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

interface ListFlags extends AdminFlags {
  spiffeId?: string;
  expiring?: string;
  kind?: string;
  source?: string;
  owner?: string;
  label?: string[];
  status?: string;
  findings?: boolean;
  json?: boolean;
  csv?: boolean;
}

interface ImportFlags extends AdminFlags {
  owner?: string;
  label?: string[];
  passwordFile?: string;
  passwordEnv?: string;
  json?: boolean;
}

export function registerCertsCommands(program: Command, io: CliIo): void {
  const certs = program
    .command('certs')
    .description('the inventory of every certificate: issued, imported, discovered, ACME and code signing');
  withAdminOptions(certs.command('list'))
    .description('list certificates of every source, all pages')
    .option('--spiffe-id <id>', 'only this identity')
    .option('--expiring <duration>', 'only certificates not yet expired that expire within this time, e.g. 30d')
    .option('--kind <kind>', 'only root, intermediate, svid, control-plane, admin, acme, code-signing or timestamping')
    .option('--source <source>', 'only issued, imported, discovered, acme or code-signing')
    .option('--owner <owner>', 'only this owner')
    .option('--label <key=value>', 'only with this label (repeatable: all must match)', collect)
    .option('--status <status>', 'only active, superseded, revoked or expired')
    .option('--findings', 'include compliance findings')
    .option('--json', 'print JSON')
    .option('--csv', 'print CSV')
    .action(async (opts: ListFlags) => {
      const query: sigil.v1.IListInventoryRequest = {
        spiffeId: opts.spiffeId ?? '',
        kind: opts.kind ?? '',
        source: opts.source ?? '',
        owner: opts.owner ?? '',
        labels: parseLabels(opts.label),
        status: opts.status ?? '',
        expiringWithinSeconds: opts.expiring ? Math.ceil(parseDuration(opts.expiring) / 1000) : 0,
        withFindings: opts.findings ?? false,
      };
      const entries = await withAdmin(io, opts, async (api) => {
        const all: sigil.v1.IInventoryEntry[] = [];
        let pageToken = '';
        do {
          const page = await api.listInventory({ ...query, pageToken });
          all.push(...page.entries);
          pageToken = page.nextPageToken;
        } while (pageToken !== '');
        return all;
      });
      const rows = entries.map(inventoryRow);
      if (opts.json) return printJson(io, rows);
      if (opts.csv) {
        const lines = [
          CSV_COLUMNS.join(','),
          ...rows.map((r) => CSV_COLUMNS.map((c) => csvCell(String(r[c]))).join(',')),
        ];
        return void io.stdout.write(`${lines.join('\n')}\n`);
      }
      printTable(
        io,
        ['SERIAL', 'SOURCE', 'KIND', 'STATUS', 'NOT AFTER', 'OWNER', 'NAME'],
        rows.map((r) => [r.serial, r.source, r.kind || '-', r.status, r.notAfter, r.owner || '-', r.name]),
      );
    });
  withAdminOptions(certs.command('import'))
    .description('record certificates from files (PEM, DER, PKCS#12) in the inventory; keys are refused, never read')
    .argument('<file...>', 'certificate files')
    .option('--owner <owner>', 'who answers for these certificates')
    .option('--label <key=value>', 'a label (repeatable)', collect)
    .option('--password-file <file>', 'PKCS#12 password, first line of this file')
    .option('--password-env <name>', 'PKCS#12 password from this environment variable')
    .option('--json', 'print JSON')
    .action(async (files: string[], opts: ImportFlags) => {
      const { readFile } = await import('node:fs/promises');
      const { readCertificateFile } = await import('../../control-plane/lifecycle.ts');
      const password = pkcs12Password(io, opts);
      const labels = parseLabels(opts.label);
      // Every file is read and checked before anything is sent: one bad file records nothing.
      const batches: sigil.v1.ICertificateBatch[] = [];
      for (const file of files) {
        const path = resolve(io.cwd, file);
        const bytes = await readFile(path).catch((err: NodeJS.ErrnoException) => {
          throw new SigilError(ErrorCode.CERTIFICATE_INPUT, `${file}: cannot read it (${err.code ?? 'unreadable'})`);
        });
        const certificates = await readCertificateFile(file, new Uint8Array(bytes), password);
        batches.push({ location: path, certificates: certificates.map((c) => c.der) });
      }
      const res = await withAdmin(io, opts, (api) =>
        api.importCertificates({ source: 'imported', batches, owner: opts.owner ?? '', labels }),
      );
      const rows = res.entries.map(inventoryRow);
      if (opts.json) return printJson(io, rows);
      for (const r of rows) {
        io.stdout.write(`imported ${r.serial} ${r.name} (expires ${r.notAfter}, ${r.status})\n`);
        for (const f of r.findings)
          io.stdout.write(`  ${String(f.severity).toUpperCase()} ${f.ruleId}: ${f.message}\n`);
      }
    });
  withAdminOptions(certs.command('label'))
    .description("set a certificate's owner and labels (issued, ACME, imported or discovered alike)")
    .argument('<certificate>', 'serial (hex) or id (sha256 fingerprint) from sigil certs list')
    .option('--owner <owner>', 'who answers for it (replaces the known owner)')
    .option('--label <key=value>', 'a label (repeatable; KEY= removes one)', collect)
    .option('--json', 'print JSON')
    .action(async (certificate: string, opts: AdminFlags & { owner?: string; label?: string[]; json?: boolean }) => {
      const labels = parseLabels(opts.label);
      if (!opts.owner && Object.keys(labels).length === 0)
        throw new SigilError(ErrorCode.INVALID_ARGUMENT, 'nothing to set: give --owner and/or --label KEY=VALUE');
      const entry = await withAdmin(io, opts, (api) =>
        api.labelCertificate({ certificate, owner: opts.owner ?? '', labels }),
      );
      const row = inventoryRow(entry);
      if (opts.json) return printJson(io, row);
      const shownLabels = Object.entries(row.labels).map(([k, v]) => `${k}=${v}`);
      io.stdout.write(
        `labelled ${row.serial} ${row.name}: owner ${row.owner || '-'}, labels ${shownLabels.join(' ') || '-'}\n`,
      );
    });
  registerDiscoverCommand(certs, io);
  withAdminOptions(certs.command('show'))
    .description('show one certificate the CA issued')
    .argument('<serial>', 'serial number in hex')
    .option('--json', 'print JSON')
    .option('--pem', 'print the certificate as PEM')
    .action(async (serial: string, opts: AdminFlags & { json?: boolean; pem?: boolean }) => {
      const cert = await withAdmin(io, opts, (api) => api.getCertificate(serial));
      const pem = new X509Certificate(cert.der).toString();
      if (opts.pem) return void io.stdout.write(pem);
      const p = shown(cert);
      if (opts.json) return printJson(io, { ...p, pem });
      io.stdout.write(
        `${Object.entries(p)
          .map(([k, v]) => `${k.padEnd(13)} ${v ?? '-'}`)
          .join('\n')}\n`,
      );
    });
}

function shown(c: sigil.v1.ICertificate) {
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

function pkcs12Password(io: CliIo, opts: ImportFlags): string | undefined {
  if (opts.passwordFile) return firstLine(resolve(io.cwd, opts.passwordFile), 'password file');
  if (opts.passwordEnv) {
    const value = io.env[opts.passwordEnv];
    if (value === undefined)
      throw new SigilError(ErrorCode.INVALID_ARGUMENT, `environment variable ${opts.passwordEnv} is not set`);
    return value;
  }
  return undefined;
}
