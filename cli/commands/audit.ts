import type { Command } from 'commander';
import { type AdminFlags, withAdmin, withAdminOptions } from '../admin-connection.ts';
import { parseDuration } from '../../common/duration.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { type CliIo, printJson, printTable } from '../io.ts';

/** `--since` takes a duration back from now (24h) or a timestamp (2026-12-01T00:00:00Z). */
function sinceMs(text: string, now: number): number {
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const at = Date.parse(text);
    if (Number.isNaN(at))
      throw new SigilError(ErrorCode.INVALID_ARGUMENT, `--since ${text}: not a timestamp; give e.g. 2026-12-01T00:00Z`);
    return at;
  }
  return now - parseDuration(text);
}

export function registerAuditCommands(program: Command, io: CliIo): void {
  const audit = program.command('audit').description('the audit log of admin calls (append-only)');
  withAdminOptions(audit.command('list'))
    .description('list audit entries, oldest first: every state-changing or refused admin call')
    .option('--since <when>', 'only entries from this long ago (24h, 7d) or this timestamp on')
    .option('--actor <spiffe-id>', "only this caller's entries (a SPIFFE ID, or anonymous)")
    .option('--limit <n>', 'at most this many entries (default: all)')
    .option('--json', 'print JSON')
    .action(async (opts: AdminFlags & { since?: string; actor?: string; limit?: string; json?: boolean }) => {
      const limit = opts.limit === undefined ? Number.POSITIVE_INFINITY : Number(opts.limit);
      if (!(limit > 0) || (Number.isFinite(limit) && !Number.isInteger(limit)))
        throw new SigilError(ErrorCode.INVALID_ARGUMENT, `--limit ${opts.limit}: give a positive whole number`);
      const since = opts.since === undefined ? 0 : sinceMs(opts.since, Date.now());
      const entries = await withAdmin(io, opts, async (api) => {
        const all = [];
        let cursor = '';
        do {
          const page = await api.listAudit({
            sinceUnixMs: since,
            actor: opts.actor ?? '',
            limit: Math.min(1000, limit - all.length),
            cursor,
          });
          all.push(...page.entries);
          cursor = page.nextCursor ?? '';
        } while (cursor !== '' && all.length < limit);
        return all;
      });
      const rows = entries.map((e) => ({
        id: e.id ?? '',
        at: new Date(Number(e.atUnixMs)).toISOString(),
        actor: e.actor ?? '',
        action: e.action ?? '',
        target: e.target ?? '',
        result: e.result ?? '',
        requestId: e.requestId ?? '',
        detail: e.detail || null,
      }));
      if (opts.json) return printJson(io, rows);
      printTable(
        io,
        ['AT', 'ACTOR', 'ACTION', 'RESULT', 'TARGET', 'REQUEST ID'],
        rows.map((r) => [r.at, r.actor, r.action, r.result, r.target || '-', r.requestId]),
      );
    });
}
