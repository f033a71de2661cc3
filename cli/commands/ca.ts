import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseWindow } from './rotate.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { KEY_TYPES, parseKeyType } from '../../common/key-type.ts';
import type { sigil } from '../../proto/index.ts';
import { withAdmin, withAdminOptions, type AdminFlags } from '../admin-connection.ts';
import { printJson, printTable, type CliIo } from '../io.ts';
import { caPassphrase } from '../secrets.ts';

function iso(ms: unknown): string {
  return new Date(Number(ms)).toISOString();
}

function caJson(s: sigil.v1.ICaStatus) {
  const cert = (c: sigil.v1.ICaCertificateSummary | null | undefined) =>
    c
      ? {
          serial: c.serial ?? '',
          subject: c.subject ?? '',
          notBefore: iso(c.notBeforeUnixMs),
          notAfter: iso(c.notAfterUnixMs),
        }
      : undefined;
  const generation = (g: sigil.v1.ICaGeneration | null | undefined) =>
    g ? { root: cert(g.root), intermediate: cert(g.intermediate), rootKeyOnline: g.rootKeyOnline === true } : undefined;
  return {
    trustDomain: s.trustDomain ?? '',
    phase: s.phase ?? '',
    intermediateOnly: s.intermediateOnly === true,
    current: generation(s.current),
    next: generation(s.next),
    previous: generation(s.previous),
    bundle: (s.bundle ?? []).map(cert),
    bundleSequence: Number(s.bundleSequence ?? 0),
    scheduled: s.scheduledStep ? { step: s.scheduledStep, at: iso(s.scheduledAtUnixMs) } : undefined,
  };
}

function printCa(io: CliIo, s: sigil.v1.ICaStatus): void {
  const j = caJson(s);
  io.stdout.write(`trust domain ${j.trustDomain}: ${j.phase}${j.phase !== 'stable' && j.intermediateOnly ? ' (intermediate only)' : ''}; bundle sequence ${j.bundleSequence}, ${j.bundle.length} root(s)
`);
  const rows: string[][] = [];
  for (const [name, g] of [
    ['current', j.current],
    ['next', j.next],
    ['previous', j.previous],
  ] as const) {
    if (!g) continue;
    rows.push([
      name,
      'root',
      g.root?.serial ?? '',
      g.root?.notAfter ?? '',
      name === 'previous' ? '' : g.rootKeyOnline ? 'key online' : 'key OFFLINE',
    ]);
    rows.push([name, 'intermediate', g.intermediate?.serial ?? '', g.intermediate?.notAfter ?? '', '']);
  }
  printTable(io, ['CA', 'CERTIFICATE', 'SERIAL', 'NOT AFTER', ''], rows);
  const scheduled = !j.scheduled
    ? 'off (caRotation.auto: false)'
    : j.scheduled.step === 'blocked'
      ? `due ${j.scheduled.at}, but the root key is offline: run sigil ca rotate prepare yourself (--intermediate-only --root-key FILE, or --root-key-out FILE)`
      : `${j.scheduled.step} at ${j.scheduled.at}`;
  io.stdout.write(`automatic rotation: ${scheduled}\n`);
}

export function registerCaCommands(program: Command, io: CliIo): void {
  const ca = program.command('ca').description('the certificate authority of a trust domain');
  ca.command('init')
    .description("create the root, the intermediate, the control plane's serving SVID and an admin credential")
    .requiredOption('--trust-domain <td>', 'trust domain, e.g. example.org')
    .option('--data-dir <dir>', 'where the CA lives (default: $SIGIL_DATA_DIR or ./data)')
    .option('--key-type <type>', `CA key type: ${KEY_TYPES.join(', ')}`, 'ec-p256')
    .option(
      '--passphrase-file <file>',
      'file holding the passphrase that encrypts the CA keys (default: $SIGIL_CA_PASSPHRASE)',
    )
    .option('--admin-name <name>', 'name of the admin identity spiffe://<td>/sigil/admin/<name>', 'default')
    .option('--host <host...>', 'DNS names or IPs the control plane serves on', ['localhost', '127.0.0.1'])
    .option(
      '--offline-root <dir>',
      'write the root key (encrypted) into this directory instead of the data dir; it is needed only to sign a new intermediate',
    )
    .option('--json', 'print the result as JSON')
    .action(
      async (opts: {
        trustDomain: string;
        dataDir?: string;
        keyType: string;
        passphraseFile?: string;
        adminName: string;
        host: string[];
        offlineRoot?: string;
        json?: boolean;
      }) => {
        const dataDir = opts.dataDir ?? io.env['SIGIL_DATA_DIR'] ?? './data';
        const { initCa } = await import('../../control-plane/index.ts');
        const result = await initCa({
          dataDir,
          trustDomain: opts.trustDomain,
          keyType: parseKeyType(opts.keyType),
          passphrase: caPassphrase(io, opts.passphraseFile),
          adminName: opts.adminName,
          serveHosts: opts.host,
          now: Date.now(),
          ...(opts.offlineRoot ? { offlineRootDir: resolve(io.cwd, opts.offlineRoot) } : {}),
        });
        const summary = {
          trustDomain: result.trustDomain,
          keyType: result.keyType,
          dataDir,
          bundle: result.files.bundle,
          root: { serial: result.issued.root.serial, notAfter: new Date(result.issued.root.notAfter).toISOString() },
          intermediate: {
            serial: result.issued.intermediate.serial,
            notAfter: new Date(result.issued.intermediate.notAfter).toISOString(),
          },
          admin: {
            spiffeId: `spiffe://${result.trustDomain}/sigil/admin/${opts.adminName}`,
            credentials: result.files.adminSvid.replace(/svid\.pem$/, ''),
          },
        };
        if (opts.json) return printJson(io, summary);
        io.stdout.write(
          [
            `created CA for trust domain ${summary.trustDomain} (${summary.keyType}) in ${dataDir}`,
            `  root          ${summary.root.serial}  valid until ${summary.root.notAfter}`,
            `  intermediate  ${summary.intermediate.serial}  valid until ${summary.intermediate.notAfter}`,
            `  bundle        ${summary.bundle}  (hand this to sidecars)`,
            ...(result.offlineRootKey
              ? [`  root key      ${result.offlineRootKey}  (OFFLINE: keep it away from the control plane)`]
              : []),
            `  admin         ${summary.admin.spiffeId}  in ${summary.admin.credentials}`,
            '',
          ].join('\n'),
        );
      },
    );

  withAdminOptions(ca.command('show'))
    .description('the CA in force, a prepared or previous one, and the bundle, with expiry dates')
    .option('--json', 'print as JSON')
    .action(async (opts: AdminFlags & { json?: boolean }) => {
      const status = await withAdmin(io, opts, (api) => api.showCa());
      if (opts.json) return printJson(io, caJson(status));
      printCa(io, status);
    });

  const rotate = ca.command('rotate').description('staged CA rotation without restarts: prepare, activate, retire');
  withAdminOptions(rotate.command('prepare'))
    .description('create the next root and intermediate and add the new root to the bundle every sidecar trusts')
    .option('--intermediate-only', 'keep the current root; rotate only the intermediate')
    .option(
      '--root-key <file>',
      'with --intermediate-only and an offline root: the root key file (encrypted); used in memory only',
    )
    .option('--root-key-out <file>', 'with an offline root: where to write the new root key (encrypted, mode 0600)')
    .option('--json', 'print as JSON')
    .action(
      async (
        opts: AdminFlags & { intermediateOnly?: boolean; rootKey?: string; rootKeyOut?: string; json?: boolean },
      ) => {
        if (opts.rootKey !== undefined && opts.intermediateOnly !== true) {
          throw new SigilError(
            ErrorCode.INVALID_ARGUMENT,
            '--root-key signs a new intermediate under the current root: it needs --intermediate-only',
          );
        }
        const rootKeyPem = opts.rootKey === undefined ? '' : readFileSync(resolve(io.cwd, opts.rootKey), 'utf8');
        // The place for a new offline root key is claimed before anything changes: once the control plane commits the
        // rotation, the key it hands back exists nowhere else.
        const keyOut = opts.rootKeyOut === undefined ? undefined : resolve(io.cwd, opts.rootKeyOut);
        if (keyOut !== undefined) {
          const { writeNewFile } = await import('../../control-plane/admin.ts');
          await writeNewFile(keyOut, '', 0o600);
        }
        let res: sigil.v1.RotateCaResponse;
        try {
          res = await withAdmin(io, opts, async (api) => {
            const before = await api.showCa();
            const offline = before.current?.rootKeyOnline === false;
            if (offline && opts.intermediateOnly !== true && keyOut === undefined) {
              throw new SigilError(
                ErrorCode.INVALID_ARGUMENT,
                'the root key is kept offline: pass --root-key-out FILE to receive the new root key',
              );
            }
            return api.rotateCa({ step: 'prepare', intermediateOnly: opts.intermediateOnly === true, rootKeyPem });
          });
        } catch (err) {
          if (keyOut !== undefined) await rm(keyOut, { force: true });
          throw err;
        }
        if (keyOut !== undefined) {
          if (res.newRootKeyPem !== '') await writeFile(keyOut, res.newRootKeyPem);
          else await rm(keyOut, { force: true });
        }
        if (opts.json) return printJson(io, caJson(res.status ?? {}));
        printCa(io, res.status ?? {});
        io.stdout.write(
          'prepared: the new root is in the bundle. Once every sidecar has it (sigil check, or their /readyz), run sigil ca rotate activate\n',
        );
      },
    );
  withAdminOptions(rotate.command('activate'))
    .description('the prepared intermediate signs from now on; every workload is ordered to renew inside the window')
    .option('--within <duration>', 'the spread window of the renewal order', '5m')
    .option(
      '--force',
      'activate sooner than caRotation.propagation after prepare, once every sidecar reports the new root',
    )
    .option('--json', 'print as JSON')
    .action(async (opts: AdminFlags & { within: string; force?: boolean; json?: boolean }) => {
      const windowMs = parseWindow(opts.within);
      const res = await withAdmin(io, opts, (api) =>
        api.rotateCa({ step: 'activate', windowMs, force: opts.force === true }),
      );
      if (opts.json) return printJson(io, { ...caJson(res.status ?? {}), orderId: res.orderId });
      printCa(io, res.status ?? {});
      io.stdout.write(
        `activated; renewal order ${res.orderId}: follow it with sigil rotate status --order ${res.orderId}, then run sigil ca rotate retire\n`,
      );
    });
  withAdminOptions(rotate.command('retire'))
    .description('remove the previous root from the bundle; refused while a live certificate still chains to it')
    .option('--json', 'print as JSON')
    .action(async (opts: AdminFlags & { json?: boolean }) => {
      const res = await withAdmin(io, opts, (api) => api.rotateCa({ step: 'retire' }));
      const { retireGuidance } = await import('./retire-guidance.ts');
      const now = Date.now();
      const blockers = res.blockers.map((c) =>
        retireGuidance(
          {
            serial: c.serial ?? '',
            spiffeId: c.spiffeId ?? '',
            kind: c.kind ?? '',
            notBefore: Number(c.notBeforeUnixMs ?? 0),
            notAfter: Number(c.notAfterUnixMs ?? 0),
            issuedAt: Number(c.issuedAtUnixMs ?? 0),
          },
          now,
        ),
      );
      if (opts.json) {
        printJson(io, { ...caJson(res.status ?? {}), blockers });
      } else if (blockers.length === 0) {
        printCa(io, res.status ?? {});
        io.stdout.write('retired: the previous root left the bundle\n');
      } else {
        printTable(
          io,
          ['SERIAL', 'SPIFFE ID', 'KIND', 'LAST RENEWAL', 'CLEARED BY'],
          blockers.map((b) => [b.serial, b.spiffeId, b.kind, b.lastRenewal, b.clearedBy]),
        );
      }
      if (blockers.length > 0) {
        const orphans = blockers.filter((b) => b.orphaned && b.kind !== 'control-plane').length;
        throw new SigilError(
          ErrorCode.CA_ROTATION_BLOCKED,
          `${blockers.length} live certificate(s) still chain to the previous root (listed above with what clears each${orphans > 0 ? `; ${orphans} orphaned: silent past their renewal time, so nothing will renew them and revoking is safe` : ''}); nothing was changed`,
        );
      }
    });
}
