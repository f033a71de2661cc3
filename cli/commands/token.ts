import type { Command } from 'commander';
import { parseDuration } from '../../common/duration.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { withAdmin, withAdminOptions, type AdminFlags } from '../admin-connection.ts';
import { printJson, printTable, type CliIo } from '../io.ts';

export function registerTokenCommands(program: Command, io: CliIo): void {
  const token = program.command('token').description('join tokens: how a new workload proves who it is');
  withAdminOptions(token.command('create'))
    .description('create a join token bound to one SPIFFE ID (printed once; the control plane keeps only its hash)')
    .requiredOption('--spiffe-id <id>', 'the identity the token may obtain (with --prefix: the path they are under)')
    .option('--ttl <duration>', 'how long the token is valid', '15m')
    .option('--uses <n>', 'how many attestations it allows (autoscaled replicas share one token)', '1')
    .option('--prefix', 'each sidecar names itself under --spiffe-id (whole path segments), e.g. one ID per replica')
    .option('--json', 'print the result as JSON')
    .action(
      async (opts: AdminFlags & { spiffeId: string; ttl: string; uses: string; prefix?: boolean; json?: boolean }) => {
        const ttlMs = parseDuration(opts.ttl);
        const uses = Number(opts.uses);
        if (!Number.isInteger(uses) || uses < 1)
          throw new SigilError(
            ErrorCode.INVALID_ARGUMENT,
            `--uses must be a whole number of at least 1, got ${JSON.stringify(opts.uses)}`,
          );
        const created = await withAdmin(io, opts, (api) =>
          api.createJoinToken({
            spiffeId: opts.spiffeId,
            ttlSeconds: Math.ceil(ttlMs / 1000),
            uses,
            prefix: opts.prefix === true,
          }),
        );
        const result = {
          token: created.token,
          id: created.id,
          spiffeId: created.spiffeId,
          prefix: created.prefix,
          expiresAt: new Date(created.expiresAtUnixMs).toISOString(),
          uses: created.uses,
        };
        if (opts.json) return printJson(io, result);
        io.stdout.write(`${result.token}\n`);
        io.stderr.write(
          `join token ${result.id} for ${result.prefix ? `IDs under ${result.spiffeId}/` : result.spiffeId}, ${result.uses} use(s), expires ${result.expiresAt}\n`,
        );
      },
    );
  withAdminOptions(token.command('list'))
    .description('join tokens by id (a prefix of their hash; the tokens themselves are never stored)')
    .option('--json', 'print JSON')
    .action(async (opts: AdminFlags & { json?: boolean }) => {
      const { tokens } = await withAdmin(io, opts, (api) => api.listJoinTokens());
      const now = Date.now();
      const rows = tokens.map((t) => {
        const revoked = Number(t.revokedAtUnixMs);
        const expires = Number(t.expiresAtUnixMs);
        return {
          id: t.id,
          spiffeId: t.prefix ? `${t.spiffeId}/*` : t.spiffeId,
          usesRemaining: t.usesRemaining,
          expiresAt: new Date(expires).toISOString(),
          status: revoked ? 'revoked' : expires <= now ? 'expired' : t.usesRemaining === 0 ? 'used' : 'usable',
        };
      });
      if (opts.json) return printJson(io, rows);
      printTable(
        io,
        ['ID', 'STATUS', 'USES LEFT', 'EXPIRES', 'SPIFFE ID'],
        rows.map((r) => [r.id ?? '', r.status, String(r.usesRemaining), r.expiresAt, r.spiffeId ?? '']),
      );
    });
  withAdminOptions(token.command('revoke'))
    .description('make a join token unusable at once (uses left and sidecars already attested are unaffected)')
    .argument('<id>', 'the ID column of sigil token list')
    .action(async (id: string, opts: AdminFlags) => {
      const revoked = await withAdmin(io, opts, (api) => api.revokeJoinToken(id));
      io.stdout.write(`revoked join token ${revoked.id} (${revoked.spiffeId}${revoked.prefix ? '/*' : ''})\n`);
    });
}
