import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import { FakeClock } from '../../common/clock.ts';
import { ErrorCode, isSigilError } from '../../common/errors.ts';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, type Migration } from './migrations.ts';
import { SqliteStore, type SqliteStoreOptions } from './sqlite-store.ts';
import { runStoreContract } from './store-contract.ts';

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;
const API = 'spiffe://example.org/ns/prod/sa/api';

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'sigil-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function opened(t: Test, options: SqliteStoreOptions): Promise<SqliteStore> {
  const store = new SqliteStore(options);
  await store.open();
  t.teardown(() => store.close());
  return store;
}

/** Reads through a separate connection so the store under test cannot vouch for itself. */
function query(path: string, sql: string): Record<string, unknown>[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare(sql).all();
  } finally {
    db.close();
  }
}

async function openError(options: SqliteStoreOptions): Promise<unknown> {
  return new SqliteStore(options).open().then(
    () => undefined,
    (err: unknown) => err,
  );
}

t.test('Store contract on SQLite', async (t) => {
  const dir = tempDir(t);
  let n = 0;
  await runStoreContract(t, async () => new SqliteStore({ path: join(dir, `contract-${++n}.db`) }));
});

t.test('migrations are listed in strictly ascending versions', async (t) => {
  const versions = MIGRATIONS.map((m) => m.version);
  t.same(
    versions,
    [...new Set(versions)].sort((a, b) => a - b),
  );
  t.equal(versions[0], 1);
});

t.test('a reopened store keeps certificates, tokens, meta and sequences', async (t) => {
  const path = join(tempDir(t), 'sigil.db');
  const first = new SqliteStore({ path });
  await first.open();
  const der = Uint8Array.from([0x30, 0x03, 0x02, 0x01, 0x07]);
  await first.insertCertificate({
    serial: '7f',
    spiffeId: API,
    kind: 'svid',
    keyType: 'ec-p256',
    notBefore: T0,
    notAfter: T0 + HOUR,
    issuerSerial: '01',
    status: 'active',
    issuedAt: T0,
    publicKeySha256: 'ab'.repeat(32),
    der,
  });
  await first.insertJoinToken({
    tokenHash: 'h1',
    spiffeId: API,
    createdAt: T0,
    expiresAt: T0 + HOUR,
    usesRemaining: 2,
  });
  await first.consumeJoinToken('h1', T0);
  await first.setMeta('ca.fingerprint', 'f00d');
  await first.nextSequence('events');
  await first.nextSequence('events');
  await first.close();

  const second = await opened(t, { path });
  t.same([...(await second.getCertificate('7f'))!.der], [...der]);
  t.equal(await second.hasPublicKey('ab'.repeat(32)), true);
  t.equal((await second.getJoinToken('h1'))?.usesRemaining, 1);
  t.equal(await second.getMeta('ca.fingerprint'), 'f00d');
  t.equal(await second.currentSequence('events'), 2);
  t.equal(await second.nextSequence('events'), 3, 'the sequence continues, never restarts');
});

t.test('the file is in WAL mode and readable only by its owner', async (t) => {
  const path = join(tempDir(t), 'sigil.db');
  const store = await opened(t, { path });
  await store.setMeta('k', 'v');
  t.equal(query(path, 'PRAGMA journal_mode')[0]?.['journal_mode'], 'wal');
  for (const file of [path, `${path}-wal`]) {
    t.ok(existsSync(file), `${file} exists`);
    t.equal(statSync(file).mode & 0o777, 0o600, `${file} has mode 0600`);
  }
});

t.test('an existing empty file becomes a new store', async (t) => {
  const path = join(tempDir(t), 'sigil.db');
  writeFileSync(path, '', { mode: 0o600 });
  const store = await opened(t, { path });
  t.equal(await store.nextSequence('s'), 1);
});

t.test('a missing directory is refused with a clear error and nothing is created', async (t) => {
  const dir = join(tempDir(t), 'absent');
  const err = await openError({ path: join(dir, 'sigil.db') });
  t.ok(isSigilError(err, ErrorCode.CONFIG_INVALID), 'CONFIG_INVALID');
  t.match((err as Error).message, dir);
  t.notOk(existsSync(dir));
});

t.test('a file that is not a Sigil store is refused and left byte-for-byte unchanged', async (t) => {
  const dir = tempDir(t);
  const garbageAfterHeader = Buffer.concat([Buffer.from('SQLite format 3\0', 'latin1'), randomBytes(8176)]);
  const foreign = join(dir, 'foreign.db');
  const other = new DatabaseSync(foreign);
  other.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY)');
  other.close();
  const cases: [string, Buffer][] = [
    ['random bytes', randomBytes(4096)],
    ['a short text file', Buffer.from('hello\n')],
    ['a SQLite header over garbage', garbageAfterHeader],
    ["another program's SQLite database", readFileSync(foreign)],
  ];
  for (const [name, bytes] of cases) {
    const path = join(dir, `${name.replaceAll(/\W+/g, '-')}.db`);
    writeFileSync(path, bytes);
    const err = await openError({ path });
    t.ok(isSigilError(err, ErrorCode.STORE_CORRUPT), `${name}: STORE_CORRUPT`);
    t.match((err as Error).message, path, `${name}: names the file`);
    t.match((err as Error).message, /backup/, `${name}: suggests restoring a backup`);
    t.ok(readFileSync(path).equals(bytes), `${name}: bytes unchanged`);
    t.notOk(existsSync(`${path}-wal`), `${name}: no WAL was created`);
  }
});

t.test('a schema from a newer Sigil is refused and left unchanged', async (t) => {
  const path = join(tempDir(t), 'sigil.db');
  const store = new SqliteStore({ path });
  await store.open();
  await store.setMeta('k', 'v');
  await store.close();
  const db = new DatabaseSync(path);
  db.exec(
    `INSERT INTO schema_migrations (version, name, applied_at) VALUES (${LATEST_SCHEMA_VERSION + 100}, 'from the future', 0)`,
  );
  db.close();
  const before = readFileSync(path);
  const err = await openError({ path });
  t.ok(isSigilError(err, ErrorCode.STORE_SCHEMA_NEWER), 'STORE_SCHEMA_NEWER');
  t.match((err as Error).message, /written by a newer Sigil; upgrade Sigil/);
  t.ok(readFileSync(path).equals(before), 'bytes unchanged');
});

t.test('an upgrade applies only the new migrations, keeps data and records when', async (t) => {
  const path = join(tempDir(t), 'sigil.db');
  const clock = new FakeClock(T0);
  const v1 = new SqliteStore({ path, clock });
  await v1.open();
  await v1.setMeta('kept', 'yes');
  await v1.close();
  clock.advance(HOUR);
  const next: Migration = {
    version: LATEST_SCHEMA_VERSION + 1,
    name: 'probe',
    sql: 'CREATE TABLE upgrade_probe (serial TEXT PRIMARY KEY)',
  };
  const upgraded = await opened(t, { path, clock, migrations: [...MIGRATIONS, next] });
  t.equal(await upgraded.getMeta('kept'), 'yes');
  const applied = query(path, 'SELECT version, name, applied_at FROM schema_migrations ORDER BY version');
  t.same(applied.at(-1), { version: next.version, name: 'probe', applied_at: T0 + HOUR });
  t.equal(applied[0]?.['applied_at'], T0, 'earlier migrations keep their time');
  t.equal(query(path, "SELECT name FROM sqlite_master WHERE name = 'upgrade_probe'").length, 1);
});

t.test('a version-1 store upgrades to revocations and keeps its inventory', async (t) => {
  const path = join(tempDir(t), 'sigil.db');
  const v1 = new SqliteStore({ path, migrations: MIGRATIONS.filter((m) => m.version === 1) });
  await v1.open();
  await v1.insertCertificate({
    serial: '0a',
    spiffeId: API,
    kind: 'svid',
    keyType: 'ec-p256',
    notBefore: T0,
    notAfter: T0 + HOUR,
    issuerSerial: 'ca',
    status: 'active',
    issuedAt: T0,
    publicKeySha256: 'aa'.repeat(32),
    der: Uint8Array.from([0x30, 0x00]),
  });
  await v1.close();
  const store = await opened(t, { path });
  t.same(
    query(path, 'SELECT version FROM schema_migrations ORDER BY version'),
    MIGRATIONS.map((m) => ({ version: m.version })),
  );
  t.same(
    await store.revokeCertificates([
      { serial: '0a', spiffeId: API, reason: 'superseded', revokedAt: T0, effectiveAt: T0, notAfter: T0 + HOUR },
    ]),
    ['0a'],
  );
  t.equal((await store.getCertificate('0a'))?.status, 'revoked');
});

t.test('a failing migration is rolled back whole', async (t) => {
  const path = join(tempDir(t), 'sigil.db');
  const bad: Migration = {
    version: LATEST_SCHEMA_VERSION + 1,
    name: 'broken',
    sql: 'CREATE TABLE half (x); CREATE TABLE oops (',
  };
  const err = await openError({ path, migrations: [...MIGRATIONS, bad] });
  t.ok(isSigilError(err), 'rejects with a SigilError');
  t.same(
    query(path, 'SELECT MAX(version) AS v FROM schema_migrations'),
    [{ v: LATEST_SCHEMA_VERSION }],
    'earlier migrations stay',
  );
  t.same(query(path, "SELECT name FROM sqlite_master WHERE name = 'half'"), [], 'nothing of the failed one remains');
  const store = await opened(t, { path });
  t.equal(await store.nextSequence('s'), 1, 'the store still opens with the released list');
});

t.test('two store instances on one file: a one-use token is used once', async (t) => {
  const path = join(tempDir(t), 'sigil.db');
  const a = await opened(t, { path });
  const b = await opened(t, { path });
  await a.insertJoinToken({ tokenHash: 'h1', spiffeId: API, createdAt: T0, expiresAt: T0 + HOUR, usesRemaining: 1 });
  const results = await Promise.all([a.consumeJoinToken('h1', T0), b.consumeJoinToken('h1', T0)]);
  t.same(results.map((r) => r.ok).sort(), [false, true]);
  t.same(
    results.find((r) => !r.ok),
    { ok: false, reason: 'used' },
  );
});

/**
 * Runs in a worker thread: opens the store once `gate[0]` is raised, reports, then uses every token once
 * `gate[1]` is raised. Both workers are released by one notify, so their writes genuinely race.
 */
const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
(async () => {
  const { SqliteStore } = await import(workerData.storeUrl);
  const gate = new Int32Array(workerData.gate);
  Atomics.wait(gate, 0, 0);
  const store = new SqliteStore({ path: workerData.path });
  await store.open();
  parentPort.postMessage({ opened: true });
  Atomics.wait(gate, 1, 0);
  const won = [];
  for (const hash of workerData.hashes) won.push((await store.consumeJoinToken(hash, workerData.now)).ok);
  await store.close();
  parentPort.postMessage({ won });
})().catch((err) => parentPort.postMessage({ error: String(err && err.code) + ' ' + String(err && err.message) }));
`;

t.test('two processes racing: each one-use token is used exactly once', async (t) => {
  const path = join(tempDir(t), 'sigil.db');
  const hashes = Array.from({ length: 200 }, (_, i) => `h${i}`);
  const gate = new SharedArrayBuffer(8);
  const flags = new Int32Array(gate);
  const storeUrl = new URL('./sqlite-store.ts', import.meta.url).href;
  const workers = [0, 1].map(
    () => new Worker(WORKER, { eval: true, workerData: { path, hashes, now: T0, gate, storeUrl } }),
  );
  const ready = workers.map(
    (w) =>
      new Promise<void>((resolve, reject) => {
        w.once('message', (m: { opened?: boolean; error?: string }) =>
          m.opened ? resolve() : reject(new Error(m.error)),
        );
        w.once('error', reject);
      }),
  );
  // Both open a fresh file at once: the migration must be applied exactly once.
  Atomics.store(flags, 0, 1);
  Atomics.notify(flags, 0);
  await Promise.all(ready);
  const store = await opened(t, { path });
  for (const tokenHash of hashes) {
    await store.insertJoinToken({ tokenHash, spiffeId: API, createdAt: T0, expiresAt: T0 + HOUR, usesRemaining: 1 });
  }
  const done = workers.map(
    (w) =>
      new Promise<boolean[]>((resolve, reject) => {
        w.once('message', (m: { won?: boolean[]; error?: string }) =>
          m.won ? resolve(m.won) : reject(new Error(m.error)),
        );
      }),
  );
  Atomics.store(flags, 1, 1);
  Atomics.notify(flags, 1);
  const [first, second] = await Promise.all(done);
  const wins = hashes.map((_, i) => Number(first![i]) + Number(second![i]));
  t.same(
    wins,
    hashes.map(() => 1),
    'every token was won by exactly one worker',
  );
  t.same(
    query(path, 'SELECT version FROM schema_migrations'),
    MIGRATIONS.map((m) => ({ version: m.version })),
  );
  t.equal(query(path, 'SELECT COUNT(*) AS n FROM join_tokens WHERE uses_remaining <> 0')[0]?.['n'], 0);
});
