import type { Command } from 'commander';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { withAdmin, withAdminOptions, type AdminFlags } from '../admin-connection.ts';
import { printJson, type CliIo } from '../io.ts';

const ISO_8601 = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** An ISO 8601 time as Unix ms; a time without zone is read as UTC, so the result never depends on the host. */
function parseEffective(text: string): number {
  const withZone = /T.*(Z|[+-]\d{2}:?\d{2})$/.test(text) || !text.includes('T') ? text : `${text}Z`;
  const ms = ISO_8601.test(text) ? Date.parse(withZone) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `--effective ${JSON.stringify(text)} is not an ISO 8601 time: use e.g. 2026-05-01T12:00:00Z`,
    );
  }
  return ms;
}

type RevokeFlags = AdminFlags & {
  serial?: string;
  spiffeId?: string;
  reason?: string;
  effective?: string;
  force?: boolean;
  json?: boolean;
};

export function registerRevokeCommands(program: Command, io: CliIo): void {
  withAdminOptions(program.command('revoke'))
    .description(
      'revoke one certificate (--serial) or an identity (--spiffe-id: every live certificate and every future renewal)',
    )
    .option('--serial <hex>', 'serial number of the certificate, as sigil certs list shows it')
    .option('--spiffe-id <id>', 'revoke this identity until sigil unrevoke')
    .option(
      '--reason <name>',
      'RFC 5280 reason: unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise',
      'unspecified',
    )
    .option(
      '--effective <time>',
      'ISO 8601 time from which the certificate is untrusted (the CRL invalidity date); default now',
    )
    .option('--force', "allow revoking the control plane's own or an admin identity")
    .option('--json', 'print the result as JSON')
    .action(async (opts: RevokeFlags) => {
      if ((opts.serial === undefined) === (opts.spiffeId === undefined)) {
        throw new SigilError(ErrorCode.INVALID_ARGUMENT, 'give exactly one of --serial and --spiffe-id');
      }
      const effectiveAtUnixMs = opts.effective === undefined ? 0 : parseEffective(opts.effective);
      const res = await withAdmin(io, opts, (api) =>
        api.revoke({
          serial: opts.serial ?? '',
          spiffeId: opts.spiffeId ?? '',
          reason: opts.reason ?? '',
          effectiveAtUnixMs,
          force: opts.force === true,
        }),
      );
      const result = { revokedSerials: res.revokedSerials, crlNumber: Number(res.crlNumber) };
      if (opts.json) return printJson(io, result);
      const what =
        opts.serial !== undefined
          ? `certificate ${result.revokedSerials[0] ?? opts.serial}`
          : `identity ${opts.spiffeId} (${result.revokedSerials.length} live certificate(s); Attest and Renew refused until sigil unrevoke)`;
      io.stdout.write(`revoked ${what}; CRL number ${result.crlNumber}\n`);
      if (opts.spiffeId !== undefined) for (const serial of result.revokedSerials) io.stdout.write(`  ${serial}\n`);
    });

  withAdminOptions(program.command('unrevoke'))
    .description('let a revoked identity attest and renew again (its revoked certificates stay revoked)')
    .requiredOption('--spiffe-id <id>', 'the identity')
    .option('--json', 'print the result as JSON')
    .action(async (opts: AdminFlags & { spiffeId: string; json?: boolean }) => {
      const res = await withAdmin(io, opts, (api) => api.unrevoke(opts.spiffeId));
      const result = { spiffeId: opts.spiffeId, crlNumber: Number(res.crlNumber) };
      if (opts.json) return printJson(io, result);
      io.stdout.write(`unrevoked identity ${opts.spiffeId}; CRL number ${result.crlNumber}\n`);
    });
}
