import t, { type Test } from 'tap';
import { FakeClock } from '../../common/clock.ts';
import { ErrorCode, isSigilError } from '../../common/errors.ts';
import { adminQuery, POSTGRES_URL, TestSchemas, uniqueName } from '../../test/fixtures/postgres.ts';
import { freePort } from '../../test/fixtures/nats-server.ts';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, type Migration, postgresDdl } from './migrations.ts';
import { PostgresStore, type PostgresStoreOptions } from './postgres-store.ts';
import { runStoreContract } from './store-contract.ts';

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;
const API = 'spiffe://example.org/ns/prod/sa/api';

const schemas = new TestSchemas();
t.teardown(() => schemas.dropSchemas());

async function opened(t: Test, options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
  const store = new PostgresStore({ url: POSTGRES_URL, schema: schemas.newSchema(), ...options });
  await store.open();
  t.teardown(() => store.close());
  return store;
}

async function openError(options: PostgresStoreOptions): Promise<unknown> {
  const store = new PostgresStore(options);
  return store.open().then(
    async () => {
      await store.close();
      return undefined;
    },
    (err: unknown) => err,
  );
}

async function versions(schema: string): Promise<number[]> {
  const result = await adminQuery(`SELECT version FROM ${schema}.schema_migrations ORDER BY version`);
  return result.rows.map((r) => Number(r.version));
}

t.test('Store contract on PostgreSQL', async (t) => {
  await runStoreContract(t, async () => new PostgresStore({ url: POSTGRES_URL, schema: schemas.newSchema() }));
});

t.test('the DDL of every migration becomes 64-bit, byte-ordered PostgreSQL', async (t) => {
  t.equal(
    postgresDdl('CREATE TABLE x (a TEXT PRIMARY KEY, b INTEGER NOT NULL, c BLOB, d TEXTUAL)'),
    'CREATE TABLE x (a TEXT COLLATE "C" PRIMARY KEY, b BIGINT NOT NULL, c BYTEA, d TEXTUAL)',
  );
  const store = await opened(t);
  await store.insertCertificate({
    serial: 'ff',
    spiffeId: API,
    kind: 'svid',
    keyType: 'ec-p256',
    notBefore: T0,
    // Past 2^31 seconds and 2^32 ms: a 32-bit column would overflow.
    notAfter: Date.UTC(2100, 0, 1),
    issuerSerial: null,
    status: 'active',
    issuedAt: T0,
    publicKeySha256: 'cd'.repeat(32),
    der: Uint8Array.from([0, 1, 2, 255]),
  });
  t.equal((await store.getCertificate('ff'))?.notAfter, Date.UTC(2100, 0, 1));
});

t.test('replicas opening a fresh schema at once apply each migration exactly once', async (t) => {
  const schema = schemas.newSchema();
  const stores = Array.from({ length: 5 }, () => new PostgresStore({ url: POSTGRES_URL, schema, poolSize: 2 }));
  await Promise.all(stores.map((s) => s.open()));
  t.teardown(() => Promise.all(stores.map((s) => s.close())));
  t.same(
    await versions(schema),
    MIGRATIONS.map((m) => m.version),
  );
  await stores[0]!.insertJoinToken({
    tokenHash: 'h',
    spiffeId: API,
    createdAt: T0,
    expiresAt: T0 + HOUR,
    usesRemaining: 1,
  });
  const results = await Promise.all(stores.map((s) => s.consumeJoinToken('h', T0)));
  t.equal(results.filter((r) => r.ok).length, 1, 'a one-use token is used once across replicas');
  const sequences = await Promise.all(stores.flatMap((s) => Array.from({ length: 20 }, () => s.nextSequence('event'))));
  t.equal(new Set(sequences).size, 100, 'no sequence value is handed out twice across replicas');
  t.equal(Math.max(...sequences), 100);
});

t.test('an upgrade applies only the new migrations and records when; a failing one is rolled back whole', async (t) => {
  const schema = schemas.newSchema();
  const clock = new FakeClock(T0);
  const first = new PostgresStore({ url: POSTGRES_URL, schema, clock });
  await first.open();
  await first.setMeta('kept', 'yes');
  await first.close();
  clock.advance(HOUR);
  const next: Migration = {
    version: LATEST_SCHEMA_VERSION + 1,
    name: 'probe',
    sql: 'CREATE TABLE upgrade_probe (n INTEGER)',
  };
  const bad: Migration = {
    version: LATEST_SCHEMA_VERSION + 2,
    name: 'broken',
    sql: 'CREATE TABLE half (x INTEGER); CREATE TABLE oops (',
  };
  const err = await openError({ url: POSTGRES_URL, schema, clock, migrations: [...MIGRATIONS, next, bad] });
  t.ok(isSigilError(err), 'the broken migration is reported');
  t.match((err as Error).message, /migration .*broken/);
  const applied = await adminQuery(
    `SELECT version, name, applied_at FROM ${schema}.schema_migrations ORDER BY version`,
  );
  t.same(applied.rows.at(-1), { version: String(next.version), name: 'probe', applied_at: String(T0 + HOUR) });
  t.equal(String(applied.rows[0]?.applied_at), String(T0), 'earlier migrations keep their time');
  t.equal(
    (await adminQuery('SELECT to_regclass($1) AS t', [`${schema}.half`])).rows[0]?.t,
    null,
    'nothing of it stays',
  );
  const upgraded = await opened(t, { schema, clock, migrations: [...MIGRATIONS, next] });
  t.equal(await upgraded.getMeta('kept'), 'yes');
});

t.test('a schema from a newer Sigil is refused and left unchanged', async (t) => {
  const schema = schemas.newSchema();
  await (await opened(t, { schema })).close();
  await adminQuery(`INSERT INTO ${schema}.schema_migrations VALUES (${LATEST_SCHEMA_VERSION + 100}, 'future', 0)`);
  const err = await openError({ url: POSTGRES_URL, schema });
  t.ok(isSigilError(err, ErrorCode.STORE_SCHEMA_NEWER));
  t.match((err as Error).message, /written by a newer Sigil; upgrade Sigil/);
  t.equal((await versions(schema)).length, MIGRATIONS.length + 1, 'every migration and the future row');
});

t.test("another program's schema is refused and nothing is added to it", async (t) => {
  const schema = schemas.newSchema();
  await adminQuery(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.invoices (id INTEGER PRIMARY KEY)`);
  const err = await openError({ url: POSTGRES_URL, schema });
  t.ok(isSigilError(err, ErrorCode.STORE_CORRUPT));
  t.match((err as Error).message, /invoices.*not a Sigil store; nothing was changed/);
  const tables = await adminQuery('SELECT tablename FROM pg_tables WHERE schemaname = $1', [schema]);
  t.same(
    tables.rows.map((r) => r.tablename),
    ['invoices'],
  );
});

t.test('bad URLs and unreachable servers are refused with what to do, never with the password', async (t) => {
  const port = await freePort();
  const cases: [string, string, ErrorCode, RegExp][] = [
    ['not a URL', 'localhost:5432', ErrorCode.CONFIG_INVALID, /postgres:\/\/USER@HOST:PORT\/DATABASE/],
    ['another scheme', 'mysql://u@h/db', ErrorCode.CONFIG_INVALID, /must start with postgres:\/\//],
    [
      'nothing listening',
      `postgres://postgres:s3cret-pw@127.0.0.1:${port}/postgres`,
      ErrorCode.UNAVAILABLE,
      new RegExp(`127\\.0\\.0\\.1:${port}.*unavailable.*check that the server is up`),
    ],
    [
      'no such database',
      `postgres://postgres:s3cret-pw@127.0.0.1:5432/${uniqueName('absent')}`,
      ErrorCode.CONFIG_INVALID,
      /does not exist.*createdb/,
    ],
  ];
  for (const [name, url, code, message] of cases) {
    const err = await openError({ url, schema: 'public', connectTimeoutMs: 2000 });
    t.ok(isSigilError(err, code), `${name}: ${code}`);
    t.match((err as Error).message, message, `${name}: says what to do`);
    t.notMatch(
      `${(err as Error).message} ${JSON.stringify((err as { details?: unknown }).details)}`,
      /s3cret/,
      `${name}: no password`,
    );
  }
});

t.test('a user without the right to migrate is told what to grant; once migrated by the owner it runs', async (t) => {
  const schema = schemas.newSchema();
  const role = uniqueName('sigil_app');
  await adminQuery(`CREATE ROLE ${role} LOGIN; CREATE SCHEMA ${schema}; GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
  t.teardown(() => adminQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE; DROP ROLE IF EXISTS ${role}`));
  const appUrl = POSTGRES_URL.replace(/\/\/[^@/]*@/, `//${role}@`);
  const err = await openError({ url: appUrl, schema });
  t.ok(isSigilError(err, ErrorCode.CONFIG_INVALID), 'CONFIG_INVALID');
  t.match(
    (err as Error).message,
    new RegExp(`user ${role} lacks a right in schema ${schema}.*GRANT CREATE, USAGE ON SCHEMA`),
  );
  t.same((await adminQuery('SELECT tablename FROM pg_tables WHERE schemaname = $1', [schema])).rows, []);

  const owner = await opened(t, { schema });
  await owner.setMeta('from', 'owner');
  await adminQuery(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} TO ${role}`);
  const app = await opened(t, { url: appUrl, schema });
  t.equal(await app.getMeta('from'), 'owner', 'a migrated schema needs no DDL right');
  t.equal(await app.nextSequence('x'), 1);
});
