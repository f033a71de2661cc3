import type { Command } from 'commander';
import { parseDuration } from '../../common/duration.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { withAdmin, withAdminOptions, type AdminFlags } from '../admin-connection.ts';
import { printJson, type CliIo } from '../io.ts';

export function registerTokenCommands(program: Command, io: CliIo): void {
  const token = program.command('token').description('join tokens: how a new workload proves who it is, once');
  withAdminOptions(token.command('create'))
    .description('create a join token bound to one SPIFFE ID (printed once; the control plane keeps only its hash)')
    .requiredOption('--spiffe-id <id>', 'the identity the token may obtain')
    .option('--ttl <duration>', 'how long the token is valid', '15m')
    .option('--uses <n>', 'how many attestations it allows', '1')
    .option('--json', 'print the result as JSON')
    .action(async (opts: AdminFlags & { spiffeId: string; ttl: string; uses: string; json?: boolean }) => {
      const ttlMs = parseDuration(opts.ttl);
      const uses = Number(opts.uses);
      if (!Number.isInteger(uses) || uses < 1)
        throw new SigilError(
          ErrorCode.INVALID_ARGUMENT,
          `--uses must be a whole number of at least 1, got ${JSON.stringify(opts.uses)}`,
        );
      const created = await withAdmin(io, opts, (api) =>
        api.createJoinToken({ spiffeId: opts.spiffeId, ttlSeconds: Math.ceil(ttlMs / 1000), uses }),
      );
      const result = {
        token: created.token,
        spiffeId: created.spiffeId,
        expiresAt: new Date(created.expiresAtUnixMs).toISOString(),
        uses: created.uses,
      };
      if (opts.json) return printJson(io, result);
      io.stdout.write(`${result.token}\n`);
      io.stderr.write(`join token for ${result.spiffeId}, ${result.uses} use(s), expires ${result.expiresAt}\n`);
    });
}
