import { ErrorCode, SigilError } from './errors.ts';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Parses `host:port` (IPv6 as `[::1]:7443`). Port 0 is allowed where the caller wants an ephemeral port. */
export function parseHostPort(text: string, what = 'address'): HostPort {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `invalid ${what} ${JSON.stringify(text)}: use host:port, e.g. 127.0.0.1:7443`,
    );
  }
  return { host: (m[1] ?? m[2]) as string, port };
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
