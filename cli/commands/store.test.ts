import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { PostgresStore, SqliteStore } from '../../control-plane/index.ts';
import { POSTGRES_URL, TestSchemas } from '../../test/fixtures/postgres.ts';
import type { CliIo } from '../io.ts';
import { runCli } from '../program.ts';

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;
const schemas = new TestSchemas();
t.teardown(() => schemas.dropSchemas());
const dir = mkdtempSync(join(tmpdir(), 'sigil-store-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

async function sigil(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: {},
    cwd: dir,
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

/** A single-node store with rows in every table, as a control plane would leave it. */
async function populate(path: string): Promise<void> {
  const store = new SqliteStore({ path });
  await store.open();
  for (let i = 0; i < 450; i++) {
    const serial = randomBytes(16).toString('hex');
    await store.insertCertificate({
      serial,
      spiffeId: `spiffe://example.org/ns/prod/sa/svc-${i % 7}`,
      kind: i === 0 ? 'root' : 'svid',
      keyType: i % 3 === 0 ? 'ec-p384' : 'ec-p256',
      notBefore: T0 + i,
      notAfter: T0 + HOUR + i * 1000,
      issuerSerial: i === 0 ? null : 'ab01',
      status: 'active',
      issuedAt: T0 + i,
      publicKeySha256: randomBytes(32).toString('hex'),
      der: randomBytes(300 + (i % 50)),
    });
    if (i % 10 === 0) {
      await store.revokeCertificates([
        {
          serial,
          spiffeId: 'spiffe://x',
          reason: 'keyCompromise',
          revokedAt: T0,
          effectiveAt: T0,
          notAfter: T0 + HOUR,
        },
      ]);
    }
  }
  await store.revokeIdentity({ spiffeId: 'spiffe://example.org/bad', reason: 'superseded', revokedAt: T0 }, []);
  await store.insertJoinToken({
    tokenHash: 'aa'.repeat(32),
    spiffeId: 'spiffe://example.org/a',
    createdAt: T0,
    expiresAt: T0 + HOUR,
    usesRemaining: 3,
  });
  await store.insertRotationOrder({
    orderId: 'o1',
    targetKind: 'all',
    target: '',
    windowMs: 60_000,
    reason: 'operator',
    createdAt: T0,
  });
  await store.setMeta('policy.current', '1');
  await store.setMeta('empty', '');
  for (let i = 0; i < 5; i++) await store.nextSequence('event.revocation');
  await store.close();
}

function dump(path: string): Record<string, string[]> {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'schema_migrations' ORDER BY name")
      .all()
      .map((r) => String(r['name']));
    return Object.fromEntries(
      tables.map((name) => [
        name,
        db
          .prepare(`SELECT * FROM ${name} ORDER BY 1`)
          .all()
          .map((row) =>
            JSON.stringify(
              Object.entries(row).map(([k, v]) => [k, v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v]),
            ),
          ),
      ]),
    );
  } finally {
    db.close();
  }
}

t.test('sigil store migrate round-trips a populated SQLite store through PostgreSQL, row by row', async (t) => {
  const source = join(dir, 'single.db');
  await populate(source);
  const sourceBytes = readFileSync(source);
  const schema = schemas.newSchema();
  const up = await sigil(
    'store',
    'migrate',
    '--from',
    `sqlite:${source}`,
    '--to',
    POSTGRES_URL,
    '--to-schema',
    schema,
    '--json',
  );
  t.equal(up.code, 0, up.stderr);
  const report = JSON.parse(up.stdout) as { tables: Record<string, number> };
  t.equal(report.tables['certificates'], 450);
  t.equal(report.tables['revocations'], 45);
  t.ok(readFileSync(source).equals(sourceBytes), 'the source file is only read');

  const pgStore = new PostgresStore({ url: POSTGRES_URL, schema });
  await pgStore.open();
  t.teardown(() => pgStore.close());
  t.equal((await pgStore.listCertificates({ status: 'revoked' })).length, 45, 'the copy works as a store');
  t.equal(await pgStore.nextSequence('event.revocation'), 6, 'sequences continue where they were');

  const back = join(dir, 'back.db');
  const down = await sigil(
    'store',
    'migrate',
    '--from',
    `postgres:${POSTGRES_URL}`,
    '--from-schema',
    schema,
    '--to',
    `sqlite:${back}`,
  );
  t.equal(down.code, 0, down.stderr);
  t.match(down.stdout, /every row verified/);
  const expected = dump(source);
  const got = dump(back);
  // The copy above moved event.revocation on: the only difference allowed.
  expected['sequences'] = expected['sequences']!.map((s) => s.replace('["value",5]', '["value",6]'));
  t.same(got, expected, 'every table, every row, every column');
});

t.test('sigil store migrate refuses, changing nothing, what it must not do', async (t) => {
  const source = join(dir, 'refusals.db');
  await populate(source);
  const filled = schemas.newSchema();
  t.equal(
    (await sigil('store', 'migrate', '--from', `sqlite:${source}`, '--to', POSTGRES_URL, '--to-schema', filled)).code,
    0,
  );
  const urlFile = join(dir, 'url');
  writeFileSync(urlFile, `${POSTGRES_URL.replace('postgres@', 'postgres:from-a-file@')}\n`, { mode: 0o600 });
  const cases: [string, string[], RegExp][] = [
    [
      'a non-empty target',
      ['--from', `sqlite:${source}`, '--to', POSTGRES_URL, '--to-schema', filled],
      /not empty \(table \w+ holds \d+ rows\).*nothing was copied/,
    ],
    [
      'a password on the command line',
      ['--from', `sqlite:${source}`, '--to', 'postgres://u:hunter2@127.0.0.1/db'],
      /carries a password.*PGPASSWORD.*postgres:@FILE/,
    ],
    [
      'a missing source',
      ['--from', `sqlite:${join(dir, 'absent.db')}`, '--to', POSTGRES_URL],
      /there is no store at .*absent\.db/,
    ],
    ['an unknown kind of store', ['--from', 'mysql://x', '--to', POSTGRES_URL], /neither sqlite:PATH nor postgres:URL/],
  ];
  for (const [name, args, message] of cases) {
    const run = await sigil('store', 'migrate', ...args);
    t.equal(run.code, 1, `${name}: exit 1`);
    t.match(run.stderr, message, `${name}: says what to do`);
    t.notMatch(run.stderr, /hunter2/, `${name}: never prints a password`);
  }
  const viaFile = await sigil(
    'store',
    'migrate',
    '--from',
    `sqlite:${source}`,
    '--to',
    `postgres:@${urlFile}`,
    '--to-schema',
    schemas.newSchema(),
  );
  t.equal(viaFile.code, 0, `a URL with its password read from a file is fine: ${viaFile.stderr}`);
  const count = new PostgresStore({ url: POSTGRES_URL, schema: filled });
  await count.open();
  t.equal((await count.listCertificates()).length, 450, 'the refused copy added nothing');
  await count.close();
});
