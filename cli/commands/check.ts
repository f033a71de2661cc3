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
  const { ca, policies } = await withAdmin(io, opts, async (api) => ({
    ca: await api.showCa(),
    policies: await api.listPolicies(),
  }));
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
  return checkFindings({
    now: Date.now(),
    cas,
    defaultAction: policies.defaultAction,
    policyCount: policies.policies.length,
    caRotation: {
      phase: ca.phase,
      scheduledStep: ca.scheduledStep || undefined,
      scheduledAt: ca.scheduledAtUnixMs ? Number(ca.scheduledAtUnixMs) : undefined,
    },
  });
}

export function registerCheckCommands(program: Command, io: CliIo): void {
  withAdminOptions(program.command('check'))
    .description('doctor: control-plane connectivity, CA expiry and rotation, policy defaults; exit 1 on errors')
    .option('--json', 'print JSON')
    .action(async (opts: AdminFlags & { json?: boolean }) => {
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
            message: `${err instanceof Error ? err.message : String(err)}; skipped the checks that need it (CA rotation, policies)`,
          },
        ];
      }
      const findings = [...remote.slice(0, 1), ...local, ...remote.slice(1)];
      if (opts.json) printJson(io, findings);
      else
        for (const f of findings) io.stdout.write(`${f.severity.toUpperCase().padEnd(7)} ${f.check}: ${f.message}\n`);
      const errors = findings.filter((f) => f.severity === 'error').length;
      if (errors > 0) throw new SigilError(ErrorCode.INVALID_ARGUMENT, `${errors} check(s) failed`);
    });
}
