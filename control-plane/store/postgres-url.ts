import { ErrorCode, SigilError } from '../../common/errors.ts';

// Apart from postgres-open.ts so that checking a store URL while reading the config does not load the pg driver.
export function checkPostgresUrl(url: string, source: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      `${source} is not a URL: write it as postgres://USER@HOST:PORT/DATABASE`,
    );
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      `${source} must start with postgres:// (got ${parsed.protocol}//): write it as postgres://USER@HOST:PORT/DATABASE`,
    );
  }
  return parsed;
}
