import { resolve } from 'node:path';
import { z } from 'zod';
import { ErrorCode, SigilError } from '../../common/errors.ts';

/** `store:` in the control plane's file: SQLite (default) or PostgreSQL for several replicas, never both. */
export const storeFileSchema = z
  .strictObject({
    sqlite: z.string().optional(),
    postgres: z
      .strictObject({
        /** May carry the password; prefer urlFile (or PGPASSWORD) so it stays out of the config file. */
        url: z
          .string()
          .regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// URL')
          .optional(),
        urlFile: z.string().optional(),
        pool: z.number().int().min(1).max(200).default(10),
        schema: z
          .string()
          .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lowercase identifier')
          .default('public'),
      })
      .refine((p) => (p.url === undefined) !== (p.urlFile === undefined), 'give exactly one of url and urlFile')
      .optional(),
  })
  .refine((s) => s.sqlite === undefined || s.postgres === undefined, 'give either sqlite or postgres, not both')
  .default({});

export interface PostgresStoreConfig {
  /** Exactly one of url and urlFile (absolute). */
  readonly url?: string;
  readonly urlFile?: string;
  readonly poolSize: number;
  readonly schema: string;
}

/**
 * PostgreSQL settings from the file, overridden by SIGIL_STORE_POSTGRES_URL or SIGIL_STORE_POSTGRES_URL_FILE;
 * undefined when neither names PostgreSQL (the store is then SQLite).
 */
export function resolvePostgresConfig(
  file: z.output<typeof storeFileSchema>['postgres'],
  env: Readonly<Record<string, string | undefined>>,
  dirs: { readonly fileDir: string; readonly cwd: string },
): PostgresStoreConfig | undefined {
  const envUrl = env['SIGIL_STORE_POSTGRES_URL'] || undefined;
  const envFile = env['SIGIL_STORE_POSTGRES_URL_FILE'] || undefined;
  if (envUrl !== undefined && envFile !== undefined) {
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      'set either SIGIL_STORE_POSTGRES_URL or SIGIL_STORE_POSTGRES_URL_FILE, not both',
    );
  }
  if (envUrl !== undefined && !/^postgres(ql)?:\/\/\S+$/.test(envUrl)) {
    throw new SigilError(ErrorCode.CONFIG_INVALID, 'SIGIL_STORE_POSTGRES_URL must be a postgres:// URL');
  }
  const poolSize = file?.pool ?? 10;
  const schema = file?.schema ?? 'public';
  if (envUrl !== undefined) return { url: envUrl, poolSize, schema };
  if (envFile !== undefined) return { urlFile: resolve(dirs.cwd, envFile), poolSize, schema };
  if (!file) return undefined;
  return file.url !== undefined
    ? { url: file.url, poolSize, schema }
    : { urlFile: resolve(dirs.fileDir, file.urlFile!), poolSize, schema };
}
