import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import { checkPostgresUrl } from './postgres-url.ts';
import { PostgresStore } from './postgres-store.ts';
import type { SqlStore } from './sql-store.ts';
import { SqliteStore } from './sqlite-store.ts';
import type { PostgresStoreConfig } from './store-config.ts';

/** Reads a URL file (may hold the password): only its name ever reaches an error. */
export function readUrlFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      `cannot read the PostgreSQL URL file ${path} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'}): check store.postgres.urlFile`,
      { cause: err },
    );
  }
  const url = text.trim();
  checkPostgresUrl(url, `the URL in ${path}`);
  return url;
}

/** The store the configuration names: PostgreSQL when `postgres` is set, else the SQLite file. */
export function createStore(
  config: { readonly sqlitePath: string; readonly postgres: PostgresStoreConfig | undefined },
  deps: { readonly clock?: Clock; readonly logger?: Logger } = {},
): SqlStore {
  const pg = config.postgres;
  if (!pg) return new SqliteStore({ path: config.sqlitePath, ...(deps.clock ? { clock: deps.clock } : {}) });
  return new PostgresStore({
    url: pg.url ?? readUrlFile(pg.urlFile!),
    schema: pg.schema,
    poolSize: pg.poolSize,
    ...(deps.clock ? { clock: deps.clock } : {}),
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
}

/**
 * A store named on the command line: `sqlite:PATH` or `postgres:URL` (`postgres://…` as is, too). A password in the
 * URL is refused (process arguments are visible to every user of the machine): give it in PGPASSWORD, or name a
 * file holding the URL with `postgres:@FILE`.
 */
export function storeFromSpec(
  spec: string,
  options: { readonly cwd: string; readonly schema?: string; readonly mustExist?: boolean },
): SqlStore {
  if (spec.startsWith('sqlite:')) {
    const path = spec.slice('sqlite:'.length);
    if (path === '')
      throw new SigilError(ErrorCode.INVALID_ARGUMENT, 'sqlite: needs a file: sqlite:/var/lib/sigil/sigil.db');
    const file = resolve(options.cwd, path);
    if (options.mustExist && !existsSync(file)) {
      throw new SigilError(
        ErrorCode.NOT_FOUND,
        `there is no store at ${file}: check the path (the control plane's store.sqlite, by default DATA_DIR/sigil.db)`,
      );
    }
    return new SqliteStore({ path: file });
  }
  if (spec.startsWith('postgres:') || spec.startsWith('postgresql:')) {
    const rest = spec.slice(spec.indexOf(':') + 1);
    let url: string;
    if (rest.startsWith('@')) url = readUrlFile(resolve(options.cwd, rest.slice(1)));
    else {
      url = rest.startsWith('//') ? spec : rest;
      if (checkPostgresUrl(url, spec.replace(/:[^:@/]*@/, ':***@')).password !== '') {
        throw new SigilError(
          ErrorCode.INVALID_ARGUMENT,
          'the PostgreSQL URL on the command line carries a password, which other users of this machine can read: remove it and set PGPASSWORD, or put the URL in a file and pass postgres:@FILE',
        );
      }
    }
    return new PostgresStore({ url, ...(options.schema ? { schema: options.schema } : {}) });
  }
  throw new SigilError(
    ErrorCode.INVALID_ARGUMENT,
    `store ${JSON.stringify(spec.replace(/:[^:@/]*@/, ':***@'))} is neither sqlite:PATH nor postgres:URL`,
  );
}
