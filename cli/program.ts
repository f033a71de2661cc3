import { Command, CommanderError } from 'commander';
import { isSigilError } from '../common/errors.ts';
import { ExitStatus, type CliIo } from './io.ts';
import { registerCaCommands } from './commands/ca.ts';
import { registerControlPlaneCommands } from './commands/control-plane.ts';
import { registerTokenCommands } from './commands/token.ts';
import { registerCertsCommands } from './commands/certs.ts';
import { registerSvidCommands } from './commands/svid.ts';
import { registerSidecarCommands } from './commands/sidecar.ts';
import { registerPolicyCommands } from './commands/policy.ts';
import { registerCheckCommands } from './commands/check.ts';
import { registerRevokeCommands } from './commands/revoke.ts';
import { registerRotateCommands } from './commands/rotate.ts';
import { registerBenchCommands } from './commands/bench.ts';
import { registerAcmeCommands } from './commands/acme.ts';
import { registerSigningCommands } from './commands/signing.ts';
import { registerSignCommands } from './commands/sign.ts';
import { registerVerifyCommands } from './commands/verify.ts';
import { registerTsaCommands } from './commands/tsa.ts';
import { registerStoreCommands } from './commands/store.ts';
import { registerJwtCommands } from './commands/jwt.ts';
import { registerTlsCommands } from './commands/tls.ts';
import { registerAlertsCommands } from './commands/alerts.ts';
import { registerDashboardCommands } from './commands/dashboard.ts';
import { registerAuditCommands } from './commands/audit.ts';
import { registerAdminCommands } from './commands/admin.ts';
import { registerSidecarsCommands } from './commands/sidecars.ts';

// Adding a command: a module in cli/commands/ exports `registerXCommands(program, io)`, added to the list below.
// Its top-level imports stay light (commander types, ../io.ts, ../admin-connection.ts, ../secrets.ts, small pure
// helpers of common/ such as errors, duration and key-type), because every module here is loaded by every `sigil`
// call, `--help` included. Everything an action needs beyond that (a component entry point such as
// control-plane/admin.ts, control-plane/index.ts, sidecar/index.ts or sidecar/identity-client.ts, and anything
// that loads gRPC, X.509, NATS or the store) is imported inside the action:
//     .action(async (opts) => { const { initCa } = await import('../../control-plane/index.ts'); ... })
// with a literal path, so that the build rewrites it to the compiled file. Admin API calls go through withAdmin(),
// which already loads the client that way. test/cli-module-loading.test.ts fails when `--help` loads more.
export function buildProgram(io: CliIo): Command {
  const program = new Command('sigil')
    .description('Sigil: SPIFFE identities, mTLS sidecars, revocation and allow-policies for a service mesh')
    .version('0.1.0')
    .configureOutput(output(io))
    // `sigil rotate --all` and `sigil rotate status --json` share option names: options belong to the command
    // they follow, which commander only does when every ancestor parses positionally.
    .enablePositionalOptions()
    .exitOverride();
  for (const register of [
    registerCaCommands,
    registerControlPlaneCommands,
    registerTokenCommands,
    registerCertsCommands,
    registerSvidCommands,
    registerSidecarCommands,
    registerPolicyCommands,
    registerRevokeCommands,
    registerRotateCommands,
    registerCheckCommands,
    registerBenchCommands,
    registerAcmeCommands,
    registerSigningCommands,
    registerSignCommands,
    registerVerifyCommands,
    registerTsaCommands,
    registerStoreCommands,
    registerJwtCommands,
    registerTlsCommands,
    registerAlertsCommands,
    registerDashboardCommands,
    registerAuditCommands,
    registerAdminCommands,
    registerSidecarsCommands,
  ]) {
    register(program, io);
  }
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
  const program = buildProgram(io);
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
