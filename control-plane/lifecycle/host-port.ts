import { ErrorCode, SigilError } from '../../common/errors.ts';

/** `host:port` or `[v6]:port`, checked once; the error names the input and the expected shape. */
export function parseHostPort(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : 0;
  const host = m?.[1] ?? m?.[2];
  if (!host || port < 1 || port > 65535)
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `${JSON.stringify(text)} is not an endpoint: give HOST:PORT, e.g. www.example.com:443 or [::1]:8443`,
    );
  return { host, port };
}
