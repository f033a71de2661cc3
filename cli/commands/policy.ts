import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { sigil } from '../../proto/index.ts';
import { withAdmin, withAdminOptions, type AdminFlags } from '../admin-connection.ts';
import { ExitStatus, printJson, printTable, type CliIo } from '../io.ts';

function readPolicyFile(io: CliIo, file: string): string {
  try {
    return file === '-' ? readFileSync(0, 'utf8') : readFileSync(resolve(io.cwd, file), 'utf8');
  } catch (err) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `cannot read policy file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`,
    );
  }
}

function printApply(io: CliIo, r: sigil.v1.IApplyPoliciesResponse, dryRun: boolean): void {
  for (const f of r.findings ?? [])
    io.stderr.write(
      `${f.severity}: document ${f.document}${f.line ? `, line ${f.line}` : ''}: ${f.path ? `${f.path}: ` : ''}${f.message}\n`,
    );
  const names = (label: string, list: readonly string[] | null | undefined) =>
    list?.length ? `${label} ${list.join(', ')}` : undefined;
  const summary = [
    names('created', r.created),
    names('updated', r.updated),
    names('deleted', r.deleted),
    names('unchanged', r.unchanged),
  ]
    .filter(Boolean)
    .join('; ');
  if (dryRun) io.stdout.write(`dry run (nothing applied; current version ${r.version}): ${summary || 'no change'}\n`);
  else if (r.applied) io.stdout.write(`applied policy version ${r.version}: ${summary}\n`);
  else if ((r.findings ?? []).some((f) => f.severity === 'error'))
    io.stdout.write(`refused: nothing applied, version stays ${r.version} (the findings say why)\n`);
  else io.stdout.write(`nothing applied (version stays ${r.version}): ${summary || 'no change'}\n`);
  for (const c of r.changes ?? []) io.stdout.write(`  ${c.from} -> ${c.to}: ${c.before} => ${c.after}\n`);
}

export function registerPolicyCommands(program: Command, io: CliIo): void {
  const policy = program
    .command('policy')
    .description('allow-policies: which identity may call which service (default deny)');
  withAdminOptions(policy.command('apply'))
    .description('validate, version and push AllowPolicy documents (merged by name)')
    .requiredOption('-f, --file <file>', 'YAML with one or more AllowPolicy documents (- for stdin)')
    .option('--dry-run', 'validate and show which decisions between known identities would change; apply nothing')
    .option('--json', 'print JSON')
    .action(async (opts: AdminFlags & { file: string; dryRun?: boolean; json?: boolean }) => {
      const yaml = readPolicyFile(io, opts.file);
      const r = await withAdmin(io, opts, (api) =>
        api.applyPolicies({ yaml, source: opts.file, dryRun: opts.dryRun ?? false }),
      );
      if (opts.json) printJson(io, r.toJSON());
      else printApply(io, r, opts.dryRun ?? false);
      if ((r.findings ?? []).some((f) => f.severity === 'error')) {
        throw new SigilError(
          ErrorCode.CONFIG_INVALID,
          `${opts.file}: refused, nothing was applied (see the findings above)`,
        );
      }
    });
  withAdminOptions(policy.command('list'))
    .description('the policies in force')
    .option('--json', 'print JSON')
    .action(async (opts: AdminFlags & { json?: boolean }) => {
      const set = await withAdmin(io, opts, (api) => api.listPolicies());
      if (opts.json) return printJson(io, set.toJSON());
      io.stdout.write(`policy version ${set.version}, default action ${set.defaultAction}\n`);
      printTable(
        io,
        ['NAME', 'MODE', 'RULES', 'DESTINATION'],
        set.policies.map((p) => [p.name ?? '', p.mode ?? '', String(p.allow?.length ?? 0), p.destination ?? '']),
      );
    });
  withAdminOptions(policy.command('get'))
    .description('one policy, as an AllowPolicy document that policy apply -f takes back, or JSON')
    .argument('<name>')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: AdminFlags & { json?: boolean }) => {
      const set = await withAdmin(io, opts, (api) => api.listPolicies());
      const p = set.policies.find((x) => x.name === name);
      if (!p)
        throw new SigilError(ErrorCode.NOT_FOUND, `no policy named ${JSON.stringify(name)}: see sigil policy list`);
      if (opts.json) return printJson(io, p);
      const { stringify } = await import('yaml');
      const allow = (p.allow ?? []).map((a) => ({ from: a.from, ...(a.ports?.length ? { ports: [...a.ports] } : {}) }));
      io.stdout.write(
        stringify(
          {
            apiVersion: 'sigil.dev/v1',
            kind: 'AllowPolicy',
            metadata: { name: p.name },
            spec: { destination: p.destination, mode: p.mode, allow },
          },
          { flowCollectionPadding: false },
        ),
      );
    });
  withAdminOptions(policy.command('delete'))
    .description('remove one policy (a new version is pushed)')
    .argument('<name>')
    .action(async (name: string, opts: AdminFlags) => {
      const r = await withAdmin(io, opts, (api) => api.deletePolicy(name));
      printApply(io, r, false);
    });
  withAdminOptions(policy.command('explain'))
    .description('why a call would be allowed or denied (revocation included); exit 1 on DENY')
    .requiredOption('--from <id>', 'the calling SPIFFE ID')
    .requiredOption('--to <id>', 'the destination SPIFFE ID')
    .option('--port <port>', 'destination port')
    .option('--json', 'print JSON')
    .action(async (opts: AdminFlags & { from: string; to: string; port?: string; json?: boolean }) => {
      const port = opts.port === undefined ? 0 : Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new SigilError(ErrorCode.INVALID_ARGUMENT, `--port must be 1-65535, got ${JSON.stringify(opts.port)}`);
      const { parseSpiffeId } = await import('../../common/spiffe-id.ts');
      for (const [flag, text] of [
        ['--from', opts.from],
        ['--to', opts.to],
      ] as const) {
        try {
          parseSpiffeId(text);
        } catch (err) {
          throw new SigilError(
            ErrorCode.INVALID_ARGUMENT,
            `${flag} ${JSON.stringify(text)} is not a SPIFFE ID (${(err as Error).message}); give one like spiffe://example.org/ns/prod/sa/web`,
          );
        }
      }
      const d = await withAdmin(io, opts, (api) => api.explainPolicy({ from: opts.from, to: opts.to, port }));
      if (opts.json) printJson(io, d.toJSON());
      else
        io.stdout.write(
          `${d.decision.toUpperCase()}${d.policy ? ` by policy ${d.policy}${d.rule >= 0 ? ` rule ${d.rule}` : ''}` : ''} (policy version ${d.policyVersion})\n  ${d.explanation}\n`,
        );
      // Scripts branch on the exit code: 1 when the call would be refused (audit-deny is let through).
      if (d.decision === 'deny') throw new ExitStatus(1, 'denied');
    });
}
