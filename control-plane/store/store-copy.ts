import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { Row, SqlExecutor, SqlValue } from './sql-database.ts';
import type { SqlStore } from './sql-store.ts';

/** Rows per INSERT: well under SQLite's and PostgreSQL's limits on bound values. */
const BATCH_ROWS = 200;
const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

export interface CopyReport {
  readonly schemaVersion: number;
  /** Rows copied and verified, per table. */
  readonly tables: Readonly<Record<string, number>>;
}

/** A value as text that compares equal across engines: bytes as hex, integers as numbers. */
function canonical(value: unknown): unknown {
  if (value instanceof Uint8Array) return `x'${Buffer.from(value).toString('hex')}'`;
  if (typeof value === 'bigint') return Number(value);
  return value ?? null;
}

function rowKey(row: Row, columns: readonly string[]): string {
  return JSON.stringify(columns.map((c) => canonical(row[c])));
}

function identifier(name: string): string {
  if (!IDENTIFIER.test(name))
    throw new SigilError(ErrorCode.STORE_CORRUPT, `table or column name ${JSON.stringify(name)} is not Sigil's`);
  return name;
}

async function readAll(x: SqlExecutor, table: string): Promise<Row[]> {
  return x.all(`reading table ${table}`, `SELECT * FROM ${identifier(table)} ORDER BY 1`);
}

async function insertAll(x: SqlExecutor, table: string, rows: readonly Row[]): Promise<void> {
  const first = rows[0];
  if (!first) return;
  const columns = Object.keys(first).map(identifier);
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  for (let i = 0; i < rows.length; i += BATCH_ROWS) {
    const batch = rows.slice(i, i + BATCH_ROWS);
    await x.run(
      `copying table ${table}`,
      `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${batch.map(() => tuple).join(', ')}`,
      batch.flatMap((row) => columns.map((c) => (row[c] ?? null) as SqlValue)),
    );
  }
}

/** Every row of `source` must be in `target` exactly as often, and nothing else: row by row, column by column. */
function verify(table: string, source: readonly Row[], target: readonly Row[]): void {
  const columns = Object.keys(source[0] ?? target[0] ?? {});
  const counts = new Map<string, number>();
  for (const row of source) counts.set(rowKey(row, columns), (counts.get(rowKey(row, columns)) ?? 0) + 1);
  for (const row of target) {
    const key = rowKey(row, columns);
    const left = counts.get(key) ?? 0;
    if (left === 0) {
      throw new SigilError(
        ErrorCode.STORE_CORRUPT,
        `verification failed: table ${table} in the target holds a row the source does not (${key.slice(0, 120)}); nothing was committed`,
      );
    }
    counts.set(key, left - 1);
  }
  const missing = [...counts.entries()].find(([, n]) => n > 0);
  if (missing || source.length !== target.length) {
    throw new SigilError(
      ErrorCode.STORE_CORRUPT,
      `verification failed: table ${table} has ${source.length} rows in the source and ${target.length} in the target; nothing was committed`,
    );
  }
}

/**
 * Copies every table of an open store into another open, empty one at the same schema version (SQLite to PostgreSQL
 * for `sigil store migrate`, or back), then reads the target back inside the same transaction and compares it with
 * the source row by row before committing. A refusal or a failed comparison commits nothing; the source is only read
 * (inside one transaction, so it is a consistent snapshot).
 */
export async function copyStore(source: SqlStore, target: SqlStore): Promise<CopyReport> {
  const { version, tables, data } = await source.withTables('reading the source store', async (x) => {
    const names = await source.tableNames(x);
    const rows = new Map<string, Row[]>();
    for (const name of names) rows.set(name, await readAll(x, name));
    return { version: await source.schemaVersion(x), tables: names, data: rows };
  });
  return target.withTables('copying into the target store', async (x) => {
    const targetVersion = await target.schemaVersion(x);
    if (targetVersion !== version) {
      throw new SigilError(
        ErrorCode.STORE_SCHEMA_NEWER,
        `the source store has schema version ${version} and the target ${targetVersion}: run the same Sigil version on both`,
      );
    }
    const targetTables = await target.tableNames(x);
    if (JSON.stringify(targetTables) !== JSON.stringify(tables)) {
      throw new SigilError(
        ErrorCode.STORE_CORRUPT,
        `the source has tables ${tables.join(', ')} but the target ${targetTables.join(', ')}: nothing was copied`,
      );
    }
    for (const table of tables) {
      const row = await x.get(`checking table ${table}`, `SELECT COUNT(*) AS n FROM ${identifier(table)}`);
      if (Number(row?.['n']) > 0) {
        throw new SigilError(
          ErrorCode.INVALID_ARGUMENT,
          `the target store is not empty (table ${table} holds ${Number(row?.['n'])} rows): migrate into an empty database or schema; nothing was copied`,
        );
      }
    }
    const counts: Record<string, number> = {};
    for (const table of tables) {
      const rows = data.get(table) ?? [];
      await insertAll(x, table, rows);
      verify(table, rows, await readAll(x, table));
      counts[table] = rows.length;
    }
    return { schemaVersion: version, tables: counts };
  });
}
