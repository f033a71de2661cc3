import type { Command } from 'commander';
import { KEY_TYPES, parseKeyType } from '../../common/key-type.ts';
import { initCa } from '../../control-plane/index.ts';
import { printJson, type CliIo } from '../io.ts';
import { caPassphrase } from '../secrets.ts';

export function registerCaCommands(program: Command, io: CliIo): void {
  const ca = program.command('ca').description('the certificate authority of a trust domain');
  ca.command('init')
    .description('create the root, the intermediate, the control plane\'s serving SVID and an admin credential')
    .requiredOption('--trust-domain <td>', 'trust domain, e.g. example.org')
    .option('--data-dir <dir>', 'where the CA lives (default: $SIGIL_DATA_DIR or ./data)')
    .option('--key-type <type>', `CA key type: ${KEY_TYPES.join(', ')}`, 'ec-p256')
    .option('--passphrase-file <file>', 'file holding the passphrase that encrypts the CA keys (default: $SIGIL_CA_PASSPHRASE)')
    .option('--admin-name <name>', 'name of the admin identity spiffe://<td>/sigil/admin/<name>', 'default')
    .option('--host <host...>', 'DNS names or IPs the control plane serves on', ['localhost', '127.0.0.1'])
    .option('--json', 'print the result as JSON')
    .action(async (opts: { trustDomain: string; dataDir?: string; keyType: string; passphraseFile?: string; adminName: string; host: string[]; json?: boolean }) => {
      const dataDir = opts.dataDir ?? io.env['SIGIL_DATA_DIR'] ?? './data';
      const result = await initCa({
        dataDir,
        trustDomain: opts.trustDomain,
        keyType: parseKeyType(opts.keyType),
        passphrase: caPassphrase(io, opts.passphraseFile),
        adminName: opts.adminName,
        serveHosts: opts.host,
        now: Date.now(),
      });
      const summary = {
        trustDomain: result.trustDomain,
        keyType: result.keyType,
        dataDir,
        bundle: result.files.bundle,
        root: { serial: result.issued.root.serial, notAfter: new Date(result.issued.root.notAfter).toISOString() },
        intermediate: { serial: result.issued.intermediate.serial, notAfter: new Date(result.issued.intermediate.notAfter).toISOString() },
        admin: { spiffeId: `spiffe://${result.trustDomain}/sigil/admin/${opts.adminName}`, credentials: result.files.adminSvid.replace(/svid\.pem$/, '') },
      };
      if (opts.json) return printJson(io, summary);
      io.stdout.write([
        `created CA for trust domain ${summary.trustDomain} (${summary.keyType}) in ${dataDir}`,
        `  root          ${summary.root.serial}  valid until ${summary.root.notAfter}`,
        `  intermediate  ${summary.intermediate.serial}  valid until ${summary.intermediate.notAfter}`,
        `  bundle        ${summary.bundle}  (hand this to sidecars)`,
        `  admin         ${summary.admin.spiffeId}  in ${summary.admin.credentials}`,
        '',
      ].join('\n'));
    });
}
