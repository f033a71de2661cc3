import type { Command } from 'commander';
import { type CliIo, printJson, printTable } from '../io.ts';

interface MigrateFlags {
  readonly from: string;
  readonly to: string;
  readonly fromSchema?: string;
  readonly toSchema?: string;
  readonly json?: boolean;
}

export function registerStoreCommands(program: Command, io: CliIo): void {
  const store = program.command('store').description("the control plane's database");
  store
    .command('migrate')
    .description(
      'copy a whole store into an empty one (e.g. a single-node SQLite file into PostgreSQL for several replicas), verified row by row; stop the control plane first',
    )
    .requiredOption('--from <store>', 'sqlite:PATH or postgres:URL (the source; only read)')
    .requiredOption(
      '--to <store>',
      'postgres:URL or sqlite:PATH (must be empty); postgres:@FILE reads the URL from FILE',
    )
    .option('--from-schema <name>', 'PostgreSQL schema of the source (default public)')
    .option('--to-schema <name>', 'PostgreSQL schema of the target (default public)')
    .option('--json', 'print JSON')
    .action(async (opts: MigrateFlags) => {
      const { copyStore, storeFromSpec } = await import('../../control-plane/index.ts');
      const source = storeFromSpec(opts.from, {
        cwd: io.cwd,
        mustExist: true,
        ...(opts.fromSchema ? { schema: opts.fromSchema } : {}),
      });
      const target = storeFromSpec(opts.to, { cwd: io.cwd, ...(opts.toSchema ? { schema: opts.toSchema } : {}) });
      await source.open();
      try {
        await target.open();
        try {
          const report = await copyStore(source, target);
          if (opts.json) return printJson(io, report);
          printTable(
            io,
            ['TABLE', 'ROWS'],
            Object.entries(report.tables).map(([table, n]) => [table, String(n)]),
          );
          const total = Object.values(report.tables).reduce((a, b) => a + b, 0);
          io.stdout.write(
            `copied ${total} rows at schema version ${report.schemaVersion}; every row verified in the target\n`,
          );
        } finally {
          await target.close();
        }
      } finally {
        await source.close();
      }
    });
}
