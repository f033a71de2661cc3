import type { Command } from 'commander';
import type { CliIo } from '../io.ts';
import { caPassphrase } from '../secrets.ts';

export function registerControlPlaneCommands(program: Command, io: CliIo): void {
  const cp = program.command('control-plane').description('the CA service: issuance, admin API, health and metrics');
  cp.command('run')
    .description('run the control plane until SIGTERM or SIGINT')
    .option('--config <file>', 'YAML configuration (see README)')
    .option('--data-dir <dir>', 'CA data directory (overrides the file and $SIGIL_DATA_DIR)')
    .option('--passphrase-file <file>', 'file with the CA passphrase (default: $SIGIL_CA_PASSPHRASE)')
    .option(
      '--init-store',
      'begin a new, empty store although this CA has run with one (a missing or empty store is refused otherwise)',
    )
    .action(async (opts: { config?: string; dataDir?: string; passphraseFile?: string; initStore?: boolean }) => {
      const { ControlPlane, loadControlPlaneConfig } = await import('../../control-plane/index.ts');
      const config = loadControlPlaneConfig({
        configPath: opts.config,
        dataDir: opts.dataDir,
        env: io.env as NodeJS.ProcessEnv,
        cwd: io.cwd,
      });
      const controlPlane = new ControlPlane({
        config,
        passphrase: caPassphrase(io, opts.passphraseFile),
        initStore: opts.initStore === true,
      });
      await controlPlane.start();
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      await controlPlane.stop();
    });
}
