import type { Command } from 'commander';
import type { CliIo } from '../io.ts';
import { caPassphrase, optionalCaPassphrase, pkcs11Pin } from '../secrets.ts';

export function registerControlPlaneCommands(program: Command, io: CliIo): void {
  const cp = program.command('control-plane').description('the CA service: issuance, admin API, health and metrics');
  cp.command('run')
    .description('run the control plane until SIGTERM or SIGINT')
    .option('--config <file>', 'YAML configuration (see README)')
    .option('--data-dir <dir>', 'CA data directory (overrides the file and $SIGIL_DATA_DIR)')
    .option('--passphrase-file <file>', 'file with the CA passphrase (default: $SIGIL_CA_PASSPHRASE)')
    .option(
      '--pin-file <file>',
      'file with the PKCS#11 token PIN when the CA keys are in a token (default: $SIGIL_PKCS11_PIN)',
    )
    .option(
      '--root-pin-file <file>',
      "file with the root token's PIN, if another token (default: $SIGIL_PKCS11_ROOT_PIN)",
    )
    .option(
      '--init-store',
      'begin a new, empty store although this CA has run with one (a missing or empty store is refused otherwise)',
    )
    .action(
      async (opts: {
        config?: string;
        dataDir?: string;
        passphraseFile?: string;
        pinFile?: string;
        rootPinFile?: string;
        initStore?: boolean;
      }) => {
        const { ControlPlane, loadControlPlaneConfig } = await import('../../control-plane/index.ts');
        const config = loadControlPlaneConfig({
          configPath: opts.config,
          dataDir: opts.dataDir,
          env: io.env as NodeJS.ProcessEnv,
          cwd: io.cwd,
        });
        // With the CA keys in a token the PIN stands in for the passphrase; a CA in files still needs the passphrase
        // (loading it says so when it is missing).
        const pin = pkcs11Pin(io, opts.pinFile);
        const rootPin = pkcs11Pin(io, opts.rootPinFile, 'SIGIL_PKCS11_ROOT');
        const passphrase = pin
          ? (optionalCaPassphrase(io, opts.passphraseFile) ?? '')
          : caPassphrase(io, opts.passphraseFile);
        const controlPlane = new ControlPlane({
          config,
          passphrase,
          initStore: opts.initStore === true,
          ...(pin ? { pkcs11: { pin, ...(rootPin ? { rootPin } : {}) } } : {}),
        });
        await controlPlane.start();
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGTERM', stop);
          process.once('SIGINT', stop);
        });
        await controlPlane.stop();
      },
    );
}
