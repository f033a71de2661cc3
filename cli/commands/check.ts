import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { withAdmin, withAdminOptions, type AdminFlags } from '../admin-connection.ts';
import { printJson, type CliIo } from '../io.ts';

export interface CheckFinding {
  readonly severity: 'ok' | 'warning' | 'error';
  readonly check: string;
  readonly message: string;
}

const DAY_MS = 86_400_000;

/** Turns what the Admin API reports into findings; pure, so the rules are table-testable. */
export function checkFindings(input: {
  now: number;
  cas: readonly { kind: string; serial: string; notAfter: number; status: string }[];
  defaultAction: string;
  policyCount: number;
  /** From sigil ca show: a rotation in progress is reported with its next step. */
  caRotation?: { phase: string; scheduledStep?: string | undefined; scheduledAt?: number | undefined };
}): CheckFinding[] {
  const findings: CheckFinding[] = [
    {
      severity: 'ok',
      check: 'connectivity',
      message: 'the control plane answered over mTLS with the admin credential',
    },
  ];
  for (const ca of input.cas.filter((c) => c.status === 'active')) {
    const days = Math.floor((ca.notAfter - input.now) / DAY_MS);
    const severity = days < 0 ? 'error' : days < 30 ? 'warning' : 'ok';
    findings.push({
      severity,
      check: `${ca.kind} expiry`,
      message: `${ca.kind} ${ca.serial} ${days < 0 ? 'has expired' : `expires in ${days} days`}${severity === 'ok' ? '' : ': rotate it (sigil ca rotate)'}`,
    });
  }
  const rotation = input.caRotation;
  if (rotation && rotation.phase !== 'stable') {
    const next =
      rotation.phase === 'prepared'
        ? 'sigil ca rotate activate, once every sidecar has the new root'
        : 'sigil ca rotate retire, once every workload has renewed (sigil rotate status)';
    findings.push({
      severity: 'ok',
      check: 'CA rotation',
      message: `a CA rotation is ${rotation.phase}; next: ${next}`,
    });
  }
  if (rotation?.scheduledStep === 'blocked') {
    const at = rotation.scheduledAt ?? input.now;
    const when = at <= input.now ? 'is due' : `will be due on ${new Date(at).toISOString().slice(0, 10)}`;
    findings.push({
      severity: 'warning',
      check: 'CA rotation',
      message: `automatic CA rotation ${when} but the root key is offline: run sigil ca rotate prepare then yourself (--intermediate-only --root-key FILE, or --root-key-out FILE for a new root)`,
    });
  } else if (rotation?.scheduledStep && rotation.scheduledAt !== undefined) {
    findings.push({
      severity: 'ok',
      check: 'CA rotation schedule',
      message: `next automatic step: ${rotation.scheduledStep} at ${new Date(rotation.scheduledAt).toISOString()}`,
    });
  }
  if (input.defaultAction === 'allow') {
    findings.push({
      severity: 'warning',
      check: 'policy default',
      message:
        'policy.defaultAction is allow: destinations without a policy accept every caller; set it to deny once policies are rolled out',
    });
  } else if (input.policyCount === 0) {
    findings.push({
      severity: 'warning',
      check: 'policies',
      message:
        'no allow-policy is defined and the default is deny: every inbound connection is refused (sigil policy apply -f FILE)',
    });
  } else {
    findings.push({ severity: 'ok', check: 'policies', message: `${input.policyCount} allow-policies, default deny` });
  }
  return findings;
}

/** The checks that ask the control plane over the Admin API; rejects when it cannot be reached. */
async function remoteFindings(io: CliIo, opts: AdminFlags): Promise<CheckFinding[]> {
  const { ca, policies, inventory } = await withAdmin(io, opts, async (api) => ({
    ca: await api.showCa(),
    policies: await api.listPolicies(),
    inventory: await api.listInventory({ withFindings: true, pageSize: 1000 }),
  }));
  // Compliance of every inventory certificate in force: critical findings are errors.
  const compliance: CheckFinding[] = inventory.entries.flatMap((e) =>
    (e.findings ?? []).map((f) => ({
      severity: f.severity === 'critical' ? ('error' as const) : ('warning' as const),
      check: `compliance ${f.ruleId}`,
      message: `${f.target}: ${f.message}`,
    })),
  );
  if (inventory.nextPageToken)
    compliance.push({
      severity: 'warning',
      check: 'compliance',
      message: `only the first ${inventory.entries.length} of ${inventory.total} inventory certificates were judged: see sigil certs list --findings`,
    });
  // The CAs in force (and a prepared one): a retired generation's expiry is nobody's problem.
  const generations = [ca.current, ca.next].filter((g) => g !== null && g !== undefined);
  const cas = generations
    .flatMap(
      (g) =>
        [
          ['root', g.root],
          ['intermediate', g.intermediate],
        ] as const,
    )
    .filter(([, c]) => c !== null && c !== undefined)
    .map(([kind, c]) => ({
      kind,
      serial: c!.serial ?? '',
      notAfter: Number(c!.notAfterUnixMs ?? 0),
      status: 'active',
    }));
  return [
    ...checkFindings({
      now: Date.now(),
      cas,
      defaultAction: policies.defaultAction,
      policyCount: policies.policies.length,
      caRotation: {
        phase: ca.phase,
        scheduledStep: ca.scheduledStep || undefined,
        scheduledAt: ca.scheduledAtUnixMs ? Number(ca.scheduledAtUnixMs) : undefined,
      },
    }),
    ...compliance,
  ];
}

export interface CheckFlags extends AdminFlags {
  readonly json?: boolean;
  readonly endpoint?: string[];
  readonly ca?: string;
  readonly strict?: boolean;
  readonly offline?: boolean;
}

export function registerCheckCommands(program: Command, io: CliIo): void {
  withAdminOptions(program.command('check'))
    .description(
      'doctor: control-plane connectivity, CA expiry and rotation, policy defaults, compliance of the inventory and of TLS endpoints; exit 1 on errors or critical findings (2 on warnings with --strict)',
    )
    .option('--endpoint <host:port...>', 'also probe these TLS endpoints and report their compliance findings')
    .option('--ca <file>', 'PEM roots to trust for --endpoint instead of the system store')
    .option('--offline', 'skip the control plane and the data dir: check only the --endpoint targets')
    .option('--strict', 'exit 2 when there are warnings (and no errors)')
    .option('--json', 'print JSON')
    .action(async (opts: CheckFlags) => {
      const findings = opts.offline ? [] : await controlPlaneAndLocalFindings(io, opts);
      findings.push(...(await endpointFindings(io, opts)));
      if (opts.json) printJson(io, findings);
      else
        for (const f of findings) io.stdout.write(`${f.severity.toUpperCase().padEnd(7)} ${f.check}: ${f.message}\n`);
      const errors = findings.filter((f) => f.severity === 'error').length;
      const warnings = findings.filter((f) => f.severity === 'warning').length;
      if (errors > 0)
        throw new SigilError(ErrorCode.CHECK_FAILED, `${errors} check(s) failed`, { details: { exitCode: 1 } });
      if (opts.strict && warnings > 0)
        throw new SigilError(ErrorCode.CHECK_FAILED, `${warnings} warning(s) under --strict`, {
          details: { exitCode: 2 },
        });
    });
}

async function controlPlaneAndLocalFindings(io: CliIo, opts: CheckFlags): Promise<CheckFinding[]> {
  const { localCertificateFiles, localFindings } = await import('./check-local.ts');
  const dataDir = resolve(io.cwd, opts.dataDir ?? io.env['SIGIL_DATA_DIR'] ?? './data');
  const credentialsDir = resolve(
    io.cwd,
    opts.adminCredentials ?? io.env['SIGIL_ADMIN_CREDENTIALS'] ?? join(dataDir, 'admin'),
  );
  // Local checks first and always: with the control plane down they are what the operator still gets.
  const local = localFindings(Date.now(), localCertificateFiles(dataDir, credentialsDir));
  let remote: CheckFinding[];
  try {
    remote = await remoteFindings(io, opts);
  } catch (err) {
    remote = [
      {
        severity: 'error',
        check: 'connectivity',
        message: `${err instanceof Error ? err.message : String(err)}; skipped the checks that need it (CA rotation, policies, compliance)`,
      },
    ];
  }
  return [...remote.slice(0, 1), ...local, ...remote.slice(1)];
}

/** Probes each endpoint; a critical compliance finding is an error, a warning stays a warning. */
async function endpointFindings(io: CliIo, opts: CheckFlags): Promise<CheckFinding[]> {
  if (!opts.endpoint?.length) return [];
  const { probeTls, gradeTls, parseHostPort } = await import('../../control-plane/lifecycle.ts');
  const ca = opts.ca ? [await readFile(resolve(io.cwd, opts.ca), 'utf8')] : undefined;
  const findings: CheckFinding[] = [];
  for (const endpoint of opts.endpoint) {
    const { host, port } = parseHostPort(endpoint);
    const report = await probeTls({ host, port, ...(ca ? { ca } : {}) }).catch((err: unknown) => err as Error);
    if (report instanceof Error) {
      findings.push({ severity: 'error', check: `endpoint ${endpoint}`, message: report.message });
      continue;
    }
    const grade = gradeTls(report, Date.now());
    findings.push({ severity: 'ok', check: `endpoint ${endpoint}`, message: `TLS grade ${grade.grade}` });
    for (const f of grade.findings)
      findings.push({
        severity: f.severity === 'critical' ? 'error' : 'warning',
        check: `compliance ${f.ruleId}`,
        message: `${f.target}: ${f.message}`,
      });
  }
  return findings;
}
