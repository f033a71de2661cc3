// V8 flags for a small footprint, applied to `sigil sidecar run` and `sigil control-plane run` by replacing the
// process (execve, same pid) before the component is loaded: a sidecar runs beside every service, so its memory is
// paid once per service.
//
// --max-semi-space-size=1 caps the young generation at 1 MiB per semi-space. Node's default lets it grow to 8 MiB
// per semi-space while the modules load and it never shrinks back: about 11 MiB of an idle sidecar's RSS. A proxy
// allocates little per request, so the extra scavenges cost no measurable CPU (docs/benchmarks.md, Footprint). The
// control plane allocates more per request (ASN.1 decoding and encoding per issuance) and gets 2 MiB.
// The old generation is left uncapped: a cap would turn a burst of connections into a crash.
//
// The operator decides: a flag already given (on the command line or in NODE_OPTIONS) is kept as it is, and
// SIGIL_SIDECAR_NODE_FLAGS or SIGIL_CONTROL_PLANE_NODE_FLAGS replaces the defaults (empty: none).
export const SIDECAR_NODE_FLAGS = ['--max-semi-space-size=1'] as const;
export const CONTROL_PLANE_NODE_FLAGS = ['--max-semi-space-size=2'] as const;

const BY_COMMAND: Record<string, { readonly flags: readonly string[]; readonly override: string }> = {
  'sidecar run': { flags: SIDECAR_NODE_FLAGS, override: 'SIGIL_SIDECAR_NODE_FLAGS' },
  'control-plane run': { flags: CONTROL_PLANE_NODE_FLAGS, override: 'SIGIL_CONTROL_PLANE_NODE_FLAGS' },
};

const flagName = (flag: string) => flag.split('=')[0] ?? flag;

/**
 * The flags to add to the Node command line of this `sigil` call, or an empty list. Only the two `run` commands get
 * any; a flag whose name is already in `execArgv` or NODE_OPTIONS is left out, which also ends the relaunch after
 * one step.
 */
export function missingNodeFlags(
  argv: readonly string[],
  execArgv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): string[] {
  const command = BY_COMMAND[`${argv[0]} ${argv[1]}`];
  if (!command) return [];
  const override = env[command.override];
  const wanted = override === undefined ? command.flags : override.split(/\s+/).filter(Boolean);
  const given = new Set([...execArgv, ...(env['NODE_OPTIONS'] ?? '').split(/\s+/)].map(flagName));
  return wanted.filter((flag) => !given.has(flagName(flag)));
}

/** Replaces this process with the same command plus `flags` (same pid, stdio and environment) where Node can. */
export function relaunchWithNodeFlags(flags: readonly string[]): void {
  // A parent's IPC channel (fork) would not survive the exec: such a process keeps the flags it was started with.
  if (flags.length === 0 || typeof process.execve !== 'function' || process.channel) return;
  process.execve(
    process.execPath,
    [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)],
    process.env as Record<string, string>,
  );
}
