import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AdminApi } from '../control-plane/admin.ts';
import type { CliIo } from './io.ts';

export interface AdminFlags {
  readonly dataDir?: string;
  readonly controlPlane?: string;
  readonly adminCredentials?: string;
}

export function withAdminOptions(command: Command): Command {
  return command
    .option(
      '--data-dir <dir>',
      'CA data directory: finds the admin credential and the running control plane (default: $SIGIL_DATA_DIR or ./data)',
    )
    .option(
      '--control-plane <addr>',
      "control plane gRPC address, or several replicas as a,b,c (tried in turn when one is down) (default: $SIGIL_CONTROL_PLANE, the data dir's control-plane.json, or 127.0.0.1:7443)",
    )
    .option(
      '--admin-credentials <dir>',
      'directory with svid.pem, key.pem, bundle.pem of an admin identity (default: <data-dir>/admin)',
    );
}

/**
 * Resolves where the control plane is and which admin credential to use, flags first, then env, then the data dir.
 * The client (gRPC and the wire types) is loaded here, when a command runs, not when the CLI starts.
 */
export async function connectAdmin(io: CliIo, flags: AdminFlags): Promise<AdminApi> {
  const { AdminApi } = await import('../control-plane/admin.ts');
  const dataDir = resolve(io.cwd, flags.dataDir ?? io.env['SIGIL_DATA_DIR'] ?? './data');
  const credentialsDir = resolve(
    io.cwd,
    flags.adminCredentials ?? io.env['SIGIL_ADMIN_CREDENTIALS'] ?? join(dataDir, 'admin'),
  );
  const address = flags.controlPlane ?? io.env['SIGIL_CONTROL_PLANE'] ?? runtimeAddress(dataDir) ?? '127.0.0.1:7443';
  return new AdminApi({ address, credentialsDir });
}

function runtimeAddress(dataDir: string): string | undefined {
  const path = join(dataDir, 'control-plane.json');
  if (!existsSync(path)) return undefined;
  try {
    const value = JSON.parse(readFileSync(path, 'utf8')) as { grpc?: unknown };
    return typeof value.grpc === 'string' ? value.grpc : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `fn` with a connected client and always closes it. */
export async function withAdmin<T>(io: CliIo, flags: AdminFlags, fn: (api: AdminApi) => Promise<T>): Promise<T> {
  const api = await connectAdmin(io, flags);
  try {
    return await fn(api);
  } finally {
    api.close();
  }
}
