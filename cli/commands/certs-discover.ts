import type { Command } from 'commander';
import { parseDuration } from '../../common/duration.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { type AdminFlags, withAdmin, withAdminOptions } from '../admin-connection.ts';
import { type CliIo, printJson } from '../io.ts';

interface DiscoverFlags extends AdminFlags {
  sni?: string;
  starttls?: string;
  every?: string;
  timeout: string;
  owner?: string;
  json?: boolean;
}

/** `sigil certs discover`: reads the chain each endpoint serves and records its leaf; with --every, keeps doing so. */
export function registerDiscoverCommand(certs: Command, io: CliIo): void {
  withAdminOptions(certs.command('discover'))
    .description('connect to TLS endpoints, record the certificates they serve, optionally again on a schedule')
    .argument('<endpoint...>', 'HOST:PORT')
    .option('--sni <name>', 'server name to send (default: the host)')
    .option('--starttls <protocol>', 'smtp or postgres: upgrade a plain connection first')
    .option('--every <duration>', 'keep running and re-check on this schedule, e.g. 6h')
    .option('--timeout <duration>', 'bound on each connection', '5s')
    .option('--owner <owner>', 'who answers for these endpoints')
    .option('--json', 'print JSON')
    .action(async (endpoints: string[], opts: DiscoverFlags) => {
      const { fetchServedChain, parseHostPort } = await import('../../control-plane/lifecycle.ts');
      if (opts.starttls !== undefined && opts.starttls !== 'smtp' && opts.starttls !== 'postgres')
        throw new SigilError(ErrorCode.INVALID_ARGUMENT, `--starttls ${opts.starttls}: use smtp or postgres`);
      const targets = endpoints.map((e) => ({ text: e, ...parseHostPort(e) }));
      const timeoutMs = parseDuration(opts.timeout);
      const everyMs = opts.every ? parseDuration(opts.every) : undefined;
      const round = async () => {
        // Each endpoint on its own: one that is down is reported and the others are still recorded.
        const failures: string[] = [];
        const batches: { location: string; certificates: Uint8Array[] }[] = [];
        for (const t of targets) {
          try {
            const served = await fetchServedChain({
              host: t.host,
              port: t.port,
              timeoutMs,
              ...(opts.sni ? { servername: opts.sni } : {}),
              ...(opts.starttls ? { startTls: opts.starttls as 'smtp' | 'postgres' } : {}),
            });
            batches.push({ location: t.text, certificates: [...served.chain] });
          } catch (err) {
            failures.push((err as Error).message);
          }
        }
        const entries = batches.length
          ? (
              await withAdmin(io, opts, (api) =>
                api.importCertificates({ source: 'discovered', batches, owner: opts.owner ?? '' }),
              )
            ).entries
          : [];
        if (opts.json)
          printJson(io, { recorded: entries.map((e) => ({ name: e.name, serial: e.serial, id: e.id })), failures });
        else {
          for (const e of entries)
            io.stdout.write(
              `discovered ${e.serial} ${e.name} (expires ${new Date(Number(e.notAfterUnixMs)).toISOString()})\n`,
            );
          for (const f of failures) io.stderr.write(`sigil: ${f}\n`);
        }
        return failures.length;
      };
      if (everyMs === undefined) {
        const failed = await round();
        if (failed > 0)
          throw new SigilError(ErrorCode.UNAVAILABLE, `${failed} endpoint(s) could not be read`, {
            details: { exitCode: 1 },
          });
        return;
      }
      // Foreground schedule: a failed round is reported and the next one still runs.
      for (;;) {
        await round().catch((err: unknown) => io.stderr.write(`sigil: ${(err as Error).message}\n`));
        await new Promise((resolve) => setTimeout(resolve, everyMs));
      }
    });
}
