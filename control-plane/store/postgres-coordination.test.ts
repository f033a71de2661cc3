import t, { type Test } from 'tap';
import { type Clock, systemClock } from '../../common/clock.ts';
import { silentLogger } from '../../common/logger.ts';
import { adminQuery, POSTGRES_URL, TestSchemas } from '../../test/fixtures/postgres.ts';
import type { ChangeSignal } from '../ha/coordination.ts';
import { SIGIL_LOCK_CLASS } from './postgres-open.ts';
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
  /** Stops this replica's polls, as a process killed with -9 would stop them; its socket stays until terminated. */
  freeze(): void;
}

/** The system clock, until frozen: then no timer of this replica fires again. */
function freezableClock(): { clock: Clock; freeze(): void } {
  let frozen = false;
  return {
    clock: {
      now: () => systemClock.now(),
      setTimer: (delayMs, fn) => systemClock.setTimer(delayMs, () => frozen || fn()),
    },
    freeze: () => {
      frozen = true;
    },
  };
}

/**
 * Ends this schema's leader session from the server side, as PostgreSQL does when the leader's socket closes.
 * Only this schema's: other test files run their own replicas against the same server at the same time.
 */
async function terminateLeaderSession(schema: string): Promise<number> {
  const result = await adminQuery(
    `SELECT pg_terminate_backend(l.pid) FROM pg_locks l
       WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = hashtext($2)::oid AND l.objsubid = 2`,
    [SIGIL_LOCK_CLASS, `leader:${schema}`],
  );
  return result.rowCount ?? 0;
}

async function replicas(t: Test, schema: string, count: number): Promise<Replica[]> {
  const made: Replica[] = [];
  for (let i = 0; i < count; i++) {
    const store = new PostgresStore({ url: POSTGRES_URL, schema, poolSize: 3 });
    await store.open();
    const id = `r${i}`;
    const { clock, freeze } = freezableClock();
    const coordination = new PostgresCoordination(
      { url: POSTGRES_URL, schema, replicaId: id, pollMs: POLL_MS, lockConnections: 2 },
      {
        pool: store.database.pool,
        context: store.database.context,
        clock,
        random: Math.random,
        logger: silentLogger(),
      },
    );
    const signals: ChangeSignal[] = [];
    coordination.onChange((s) => signals.push(s));
    made.push({ id, store, coordination, signals, freeze });
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
  // Killed with -9: the process polls no more, and PostgreSQL sees its socket close. (Left polling, the old leader
  // could win its lock back before a follower asks, which is right for a leader that only lost its connection but
  // is not what this case measures.)
  old.freeze();
  t.equal(await terminateLeaderSession(schema), 1, "the leader's session was ended");
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
  t.equal(await terminateLeaderSession(schema), 1, "the leader's session was ended");
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
