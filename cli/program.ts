import { Command, CommanderError } from 'commander';
import { isSigilError } from '../common/errors.ts';
import { ExitStatus, type CliIo } from './io.ts';
type RegisterCommands = (program: Command, io: CliIo) => void;

/**
 * Every command module, in --help order, with the top-level commands it adds. A call that names one of them (`sigil
 * certs list`) loads that module alone; anything else (`--help`, `help`, an unknown or misspelt command) loads them
 * all, so help and suggestions list every command. cli/program.test.ts checks the names against the modules.
 */
export const COMMAND_MODULES: readonly {
  readonly names: readonly string[];
  readonly load: () => Promise<RegisterCommands>;
}[] = [
  { names: ['ca'], load: async () => (await import('./commands/ca.ts')).registerCaCommands },
  {
    names: ['control-plane'],
    load: async () => (await import('./commands/control-plane.ts')).registerControlPlaneCommands,
  },
  { names: ['token'], load: async () => (await import('./commands/token.ts')).registerTokenCommands },
  { names: ['certs'], load: async () => (await import('./commands/certs.ts')).registerCertsCommands },
  { names: ['svid'], load: async () => (await import('./commands/svid.ts')).registerSvidCommands },
  { names: ['sidecar'], load: async () => (await import('./commands/sidecar.ts')).registerSidecarCommands },
  { names: ['policy'], load: async () => (await import('./commands/policy.ts')).registerPolicyCommands },
  { names: ['revoke', 'unrevoke'], load: async () => (await import('./commands/revoke.ts')).registerRevokeCommands },
  { names: ['rotate'], load: async () => (await import('./commands/rotate.ts')).registerRotateCommands },
  { names: ['check'], load: async () => (await import('./commands/check.ts')).registerCheckCommands },
  { names: ['bench'], load: async () => (await import('./commands/bench.ts')).registerBenchCommands },
  { names: ['acme'], load: async () => (await import('./commands/acme.ts')).registerAcmeCommands },
  { names: ['signing'], load: async () => (await import('./commands/signing.ts')).registerSigningCommands },
  { names: ['sign'], load: async () => (await import('./commands/sign.ts')).registerSignCommands },
  { names: ['verify'], load: async () => (await import('./commands/verify.ts')).registerVerifyCommands },
  { names: ['tsa'], load: async () => (await import('./commands/tsa.ts')).registerTsaCommands },
  { names: ['store'], load: async () => (await import('./commands/store.ts')).registerStoreCommands },
  { names: ['jwt'], load: async () => (await import('./commands/jwt.ts')).registerJwtCommands },
  { names: ['tls'], load: async () => (await import('./commands/tls.ts')).registerTlsCommands },
  { names: ['alerts'], load: async () => (await import('./commands/alerts.ts')).registerAlertsCommands },
  { names: ['dashboard'], load: async () => (await import('./commands/dashboard.ts')).registerDashboardCommands },
  { names: ['audit'], load: async () => (await import('./commands/audit.ts')).registerAuditCommands },
  { names: ['admin'], load: async () => (await import('./commands/admin.ts')).registerAdminCommands },
  { names: ['sidecars'], load: async () => (await import('./commands/sidecars.ts')).registerSidecarsCommands },
];

// Adding a command: a module in cli/commands/ exports `registerXCommands(program, io)`, added to the list above with
// the top-level command names it adds. Its top-level imports stay light (commander types, ../io.ts,
// ../admin-connection.ts, ../secrets.ts, small pure helpers of common/ such as errors, duration and key-type),
// because `--help` loads every module of the list. Everything an action needs beyond that (a component entry point
// such as control-plane/admin.ts, control-plane/index.ts, sidecar/index.ts or sidecar/identity-client.ts, and
// anything that loads gRPC, X.509, NATS or the store) is imported inside the action:
//     .action(async (opts) => { const { initCa } = await import('../../control-plane/index.ts'); ... })
// with a literal path, so that the build rewrites it to the compiled file. Admin API calls go through withAdmin(),
// which already loads the client that way. test/cli-module-loading.test.ts fails when `--help` loads more.
export async function buildProgram(io: CliIo, argv: readonly string[] = []): Promise<Command> {
  const program = new Command('sigil')
    .description('Sigil: SPIFFE identities, mTLS sidecars, revocation and allow-policies for a service mesh')
    .version('0.1.0')
    .configureOutput(output(io))
    // `sigil rotate --all` and `sigil rotate status --json` share option names: options belong to the command
    // they follow, which commander only does when every ancestor parses positionally.
    .enablePositionalOptions()
    .exitOverride();
  const named = COMMAND_MODULES.find((m) => m.names.includes(argv[0] ?? ''));
  const registers = await Promise.all((named ? [named] : COMMAND_MODULES).map((m) => m.load()));
  for (const register of registers) register(program, io);
  for (const command of allCommands(program)) command.exitOverride().configureOutput(output(io));
  return program;
}

/** Usage errors read like every other failure: one line, `sigil: what was wrong (see --help)`. */
function output(io: CliIo) {
  return {
    writeOut: (s: string) => io.stdout.write(s),
    writeErr: (s: string) => io.stderr.write(s),
    outputError: (s: string, write: (text: string) => void) =>
      write(`sigil: ${s.trim().replace(/^error: /, '')} (see --help)\n`),
  };
}

function* allCommands(command: Command): Generator<Command> {
  for (const sub of command.commands) {
    yield sub;
    yield* allCommands(sub);
  }
}

/** Runs one invocation and returns the exit code: 0 success, 1 failure, 2 usage error. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = await buildProgram(io, argv);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here with exit code 0; usage errors were already printed by commander.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof ExitStatus) return err.exitCode;
    if (isSigilError(err)) {
      io.stderr.write(`sigil: ${err.message} [${err.code}]\n`);
      const exitCode = err.details['exitCode'];
      return typeof exitCode === 'number' ? exitCode : 1;
    }
    io.stderr.write(`sigil: unexpected failure: ${(err as Error)?.message ?? String(err)}\n`);
    return 1;
  }
}
