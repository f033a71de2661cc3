import t, { type Test } from 'tap';
import { systemClock } from '../../common/clock.ts';
import { silentLogger } from '../../common/logger.ts';
import { adminQuery, POSTGRES_URL, TestSchemas } from '../../test/fixtures/postgres.ts';
import type { ChangeSignal } from '../ha/coordination.ts';
import { PostgresCoordination } from './postgres-coordination.ts';
import { PostgresStore } from './postgres-store.ts';

const schemas = new TestSchemas();
t.teardown(() => schemas.dropSchemas());

const POLL_MS = 100;

interface Replica {
  readonly id: string;
  readonly store: PostgresStore;
  readonly coordination: PostgresCoordination;
  readonly signals: ChangeSignal[];
}

async function replicas(t: Test, schema: string, count: number): Promise<Replica[]> {
  const made: Replica[] = [];
  for (let i = 0; i < count; i++) {
    const store = new PostgresStore({ url: POSTGRES_URL, schema, poolSize: 3 });
    await store.open();
    const id = `r${i}`;
    const coordination = new PostgresCoordination(
      { url: POSTGRES_URL, schema, replicaId: id, pollMs: POLL_MS, lockConnections: 2 },
      {
        pool: store.database.pool,
        context: store.database.context,
        clock: systemClock,
        random: Math.random,
        logger: silentLogger(),
      },
    );
    const signals: ChangeSignal[] = [];
    coordination.onChange((s) => signals.push(s));
    made.push({ id, store, coordination, signals });
  }
  t.teardown(async () => {
    for (const r of made) {
      await r.coordination.stop();
      await r.store.close();
    }
  });
  return made;
}

/** Resolves once `predicate` holds; polls the way a test of a poller must (no fixed sleep decides the result). */
async function until(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<number> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return Date.now() - started;
}

t.test('one leader among three; when its session dies another takes over within the bound', async (t) => {
  const schema = schemas.newSchema();
  const all = await replicas(t, schema, 3);
  const history: string[] = [];
  for (const r of all) r.coordination.leadership.onChange((leader) => history.push(`${r.id}:${leader}`));
  await Promise.all(all.map((r) => r.coordination.start()));
  await until(() => all.some((r) => r.coordination.leadership.isLeader), 'a leader');
  // Several polls later there is still exactly one.
  await new Promise((resolve) => setTimeout(resolve, POLL_MS * 5));
  const leaders = all.filter((r) => r.coordination.leadership.isLeader);
  t.equal(leaders.length, 1, 'exactly one leader');
  const old = leaders[0]!;
  // The leader's PostgreSQL session ends as it would when its process is killed: the server sees the socket close.
  await adminQuery(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sigil-control-plane-leader' AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)",
  );
  const takeoverMs = await until(
    () => all.some((r) => r !== old && r.coordination.leadership.isLeader),
    'a new leader',
  );
  t.ok(takeoverMs < 5_000, `a follower took over in ${takeoverMs} ms (poll ${POLL_MS} ms)`);
  t.equal(all.filter((r) => r.coordination.leadership.isLeader).length, 1, 'and still only one');
  t.match(history, [`${old.id}:true`], 'the first leader was recorded');
  t.ok(history.includes(`${old.id}:false`), 'the old leader stepped down when its session broke');
});

t.test('announcements reach the other replicas, not the sender; a lost session reports "all"', async (t) => {
  const schema = schemas.newSchema();
  const [a, b, c] = await replicas(t, schema, 3);
  await Promise.all([a!, b!, c!].map((r) => r.coordination.start()));
  await a!.coordination.announce('revocation');
  await a!.coordination.announce('policy');
  await until(() => b!.signals.length >= 2 && c!.signals.length >= 2, 'the announcements');
  t.same(b!.signals, ['revocation', 'policy']);
  t.same(c!.signals, ['revocation', 'policy']);
  t.same(a!.signals, [], 'nobody hears themselves');
  await adminQuery(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sigil-control-plane-leader' AND query LIKE '%pg_try_advisory_lock%' LIMIT 1`,
  );
  await until(() => [a!, b!, c!].some((r) => r.signals.includes('all')), 'a resync after a reconnect');
  t.pass('a replica whose session was cut reloads everything');
});

t.test('exclusive: one holder at a time across replicas', async (t) => {
  const schema = schemas.newSchema();
  const all = await replicas(t, schema, 3);
  let inside = 0;
  let most = 0;
  const order: number[] = [];
  await Promise.all(
    all.flatMap((r, i) =>
      Array.from({ length: 4 }, (_, j) =>
        r.coordination.exclusive('ca', async () => {
          inside++;
          most = Math.max(most, inside);
          await r.store.nextSequence('x');
          order.push(i * 10 + j);
          inside--;
        }),
      ),
    ),
  );
  t.equal(most, 1, 'never two inside at once');
  t.equal(order.length, 12);
  await all[0]!.coordination.exclusive('other', async () => {
    await t.resolves(
      all[1]!.coordination.exclusive('ca', async () => 'ok'),
      'other names do not wait',
    );
  });
});
