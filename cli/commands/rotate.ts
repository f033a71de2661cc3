import type { Command } from 'commander';
import { parseDuration } from '../../common/duration.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { sigil } from '../../proto/index.ts';
import { withAdmin, withAdminOptions, type AdminFlags } from '../admin-connection.ts';
import { printJson, printTable, type CliIo } from '../io.ts';

/** A spread window: 1s to 7d (0 would ask the server for its default, which a user never means by `0s`). */
export function parseWindow(text: string): number {
  const ms = parseDuration(text);
  if (ms < 1_000 || ms > 7 * 24 * 3_600_000) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `--within ${text} is out of range: give a window between 1s and 7d`,
    );
  }
  return ms;
}

type RotateFlags = AdminFlags & { spiffeId?: string; prefix?: string; all?: boolean; within: string; json?: boolean };

export function rotationJson(s: sigil.v1.RotationStatus) {
  return {
    orderId: s.orderId,
    target: s.targetKind === 'all' ? 'all' : `${s.targetKind} ${s.target}`,
    windowMs: Number(s.windowMs),
    createdAt: new Date(Number(s.createdAtUnixMs)).toISOString(),
    reason: s.reason,
    targets: s.targets,
    rotated: s.rotated,
    pending: s.pending,
    failed: s.failed,
  };
}

function printRotation(io: CliIo, s: sigil.v1.RotationStatus): void {
  const j = rotationJson(s);
  io.stdout.write(`order ${j.orderId} (${j.reason}): ${j.target}, window ${j.windowMs / 1000}s from ${j.createdAt}\n`);
  io.stdout.write(
    `  targets ${j.targets.length}  rotated ${j.rotated.length}  pending ${j.pending.length}  failed ${j.failed.length}\n`,
  );
  const rows = [
    ...j.rotated.map((id) => [id, 'rotated']),
    ...j.pending.map((id) => [id, 'pending']),
    ...j.failed.map((id) => [id, 'FAILED']),
  ];
  if (rows.length > 0) printTable(io, ['SPIFFE ID', 'STATE'], rows);
}

export function registerRotateCommands(program: Command, io: CliIo): void {
  const rotate = withAdminOptions(program.command('rotate').enablePositionalOptions())
    .description(
      'order workloads to renew with new keys, each at a random moment inside the window (no restart, no stampede)',
    )
    .option('--spiffe-id <id>', 'one workload')
    .option('--prefix <prefix>', 'every workload under this path, e.g. spiffe://example.org/ns/prod/ (whole segments)')
    .option('--all', 'every workload of the trust domain')
    .option('--within <duration>', 'the spread window, e.g. 30s, 5m, 1h', '5m')
    .option('--json', 'print the order as JSON')
    .action(async (opts: RotateFlags) => {
      const windowMs = parseWindow(opts.within);
      const res = await withAdmin(io, opts, (api) =>
        api.rotate({ spiffeId: opts.spiffeId ?? '', prefix: opts.prefix ?? '', all: opts.all === true, windowMs }),
      );
      if (opts.json) return printJson(io, rotationJson(res));
      printRotation(io, res);
      io.stdout.write(`follow it with: sigil rotate status --order ${res.orderId}\n`);
    });

  withAdminOptions(rotate.command('status'))
    .description('progress of a rotation order (the latest by default): targets, rotated, pending, failed')
    .option('--order <id>', 'the order id sigil rotate printed')
    .option('--json', 'print as JSON')
    .action(async (opts: AdminFlags & { order?: string; json?: boolean }) => {
      const res = await withAdmin(io, opts, (api) => api.rotationStatus(opts.order ?? ''));
      if (opts.json) return printJson(io, rotationJson(res));
      printRotation(io, res);
    });
}
