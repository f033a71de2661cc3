import type { Command } from 'commander';
import type { CliIo } from '../io.ts';

export function registerSidecarCommands(program: Command, io: CliIo): void {
  const sidecar = program.command('sidecar').description('the mTLS proxy that runs next to each service');
  sidecar
    .command('run')
    .description('run a sidecar until SIGTERM (drains open connections first)')
    .requiredOption('--config <file>', 'sidecar YAML configuration (see README)')
    .option('--join-token <token>', "one-time join token (default: the config's joinToken.file or $SIGIL_JOIN_TOKEN)")
    .action(async (opts: { config: string; joinToken?: string }) => {
      const { runSidecarFromConfig } = await import('../../sidecar/run.ts');
      await runSidecarFromConfig({ configPath: opts.config, joinToken: opts.joinToken, env: io.env, cwd: io.cwd });
    });
}
