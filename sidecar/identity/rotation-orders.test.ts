import t from 'tap';
import { FakeClock } from '../../common/clock.ts';
import { silentLogger } from '../../common/logger.ts';
import { parseRotationTarget } from '../../common/rotation-target.ts';
import { RotationOrders, type RotationOrder, type RotationOrderResult } from './rotation-orders.ts';

const TD = 'example.org';
const WINDOW_MS = 60_000;

/** A small deterministic PRNG (mulberry32), so the spread is the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function fleet(ids: readonly string[], clock: FakeClock, renew: (id: string) => Promise<boolean>) {
  const random = seeded(7);
  const results: { id: string; result: RotationOrderResult }[] = [];
  const members = ids.map((id) => ({
    id,
    orders: new RotationOrders(id, {
      renewNow: () => renew(id),
      clock,
      random,
      logger: silentLogger(),
      onResult: (result) => results.push({ id, result }),
    }),
  }));
  return { members, results, offer: (order: RotationOrder) => members.map((m) => m.orders.offer(order)) };
}

t.test('a prefix order rotates exactly the matching sidecars, spread across the window', async (t) => {
  const clock = new FakeClock();
  const prod = Array.from({ length: 40 }, (_, i) => `spiffe://${TD}/ns/prod/sa/svc-${i}`);
  const others = [
    `spiffe://${TD}/ns/production/sa/x`,
    `spiffe://${TD}/ns/staging/sa/api`,
    `spiffe://${TD}/ns/prod-like/sa/y`,
  ];
  const renewedAt = new Map<string, number>();
  const f = fleet([...prod, ...others], clock, async (id) => {
    renewedAt.set(id, clock.now());
    return true;
  });
  const start = clock.now();
  const order = {
    orderId: 'o1',
    target: parseRotationTarget({ prefix: `spiffe://${TD}/ns/prod/` }, TD),
    windowMs: WINDOW_MS,
    reason: 'operator',
    createdAt: clock.now(),
  };
  const offered = f.offer(order);
  t.equal(offered.filter((r) => r === 'scheduled').length, prod.length, 'every prod sidecar scheduled');
  t.equal(offered.filter((r) => r === 'not-targeted').length, others.length);
  t.equal(renewedAt.size, 0, 'nobody renews at the moment of the order');

  clock.advance(WINDOW_MS);
  await new Promise((r) => setImmediate(r));
  t.same([...renewedAt.keys()].sort(), [...prod].sort(), 'exactly the prefix matches rotated');
  const offsets = [...renewedAt.values()].map((at) => at - start).sort((a, b) => a - b);
  t.ok(
    offsets.every((o) => o >= 0 && o < WINDOW_MS),
    'all inside the window',
  );
  // Spread: every quarter of the window holds some renewals and none holds most of them.
  const quarters = [0, 1, 2, 3].map((q) => offsets.filter((o) => Math.floor(o / (WINDOW_MS / 4)) === q).length);
  t.ok(
    quarters.every((n) => n >= 4 && n <= 20),
    `renewals per quarter of the window: ${quarters.join(', ')}`,
  );
  t.equal(f.results.filter((r) => r.result === 'rotated').length, prod.length);

  t.same(new Set(f.offer(order)), new Set(['duplicate']), 'a re-delivered order is ignored by everyone');
  clock.advance(WINDOW_MS);
  await new Promise((r) => setImmediate(r));
  t.equal(renewedAt.size, prod.length);
});

t.test('one identity, all, a zero window and a failing renewal', async (t) => {
  const clock = new FakeClock();
  const a = `spiffe://${TD}/ns/a/sa/one`;
  const b = `spiffe://${TD}/ns/b/sa/two`;
  let calls = 0;
  const f = fleet([a, b], clock, async (id) => {
    calls++;
    return id === a;
  });
  t.same(
    f.offer({
      orderId: 'one',
      target: { kind: 'spiffe-id', spiffeId: a },
      windowMs: 0,
      reason: 'operator',
      createdAt: clock.now(),
    }),
    ['scheduled', 'not-targeted'],
  );
  clock.advance(0);
  await new Promise((r) => setImmediate(r));
  t.equal(calls, 1, 'a zero window renews at once');
  f.offer({ orderId: 'all', target: { kind: 'all' }, windowMs: 1_000, reason: 'ca-activate', createdAt: clock.now() });
  t.ok(
    f.members.every((m) => m.orders.pendingAt !== undefined),
    'both pending',
  );
  clock.advance(1_000);
  await new Promise((r) => setImmediate(r));
  t.same(
    f.results
      .filter((r) => r.result === 'rotated' || r.result === 'failed')
      .map((r) => `${r.id === a ? 'a' : 'b'}:${r.result}`)
      .sort(),
    ['a:rotated', 'a:rotated', 'b:failed'],
  );
});

t.test('orders received while one is pending share one renewal at the earliest moment; stop cancels', async (t) => {
  const clock = new FakeClock();
  const id = `spiffe://${TD}/ns/a/sa/one`;
  let calls = 0;
  const results: string[] = [];
  const orders = new RotationOrders(id, {
    renewNow: async () => {
      calls++;
      return true;
    },
    clock,
    random: () => 0.99,
    logger: silentLogger(),
    onResult: (r, o) => results.push(`${o.orderId}:${r}`),
  });
  orders.offer({ orderId: 'first', target: { kind: 'all' }, windowMs: 10_000, reason: 'x', createdAt: clock.now() });
  orders.offer({ orderId: 'second', target: { kind: 'all' }, windowMs: 1_000, reason: 'x', createdAt: clock.now() });
  t.equal(orders.pendingAt, clock.now() + 990, 'the shorter window wins');
  orders.offer({
    orderId: 'third',
    target: { kind: 'all' },
    windowMs: 3_600_000,
    reason: 'ca-activate',
    createdAt: clock.now(),
  });
  t.equal(orders.pendingAt, clock.now() + 990, 'a longer window does not stretch it');
  t.equal(clock.pendingTimers, 1, 'one timer for all three');
  clock.advance(990);
  await new Promise((r) => setImmediate(r));
  t.equal(calls, 1, 'one renewal');
  t.same(
    results.filter((r) => r.endsWith(':rotated')).sort(),
    ['first:rotated', 'second:rotated', 'third:rotated'],
    'every order it served is reported',
  );
  orders.offer({ orderId: 'fourth', target: { kind: 'all' }, windowMs: 10_000, reason: 'x', createdAt: clock.now() });
  orders.stop();
  clock.advance(20_000);
  await new Promise((r) => setImmediate(r));
  t.equal(calls, 1, 'nothing after stop');
});

t.test('an order heard late renews in what is left of its window, or at once', async (t) => {
  const clock = new FakeClock();
  const id = `spiffe://${TD}/ns/a/sa/one`;
  const orders = new RotationOrders(id, {
    renewNow: async () => true,
    clock,
    random: () => 0.5,
    logger: silentLogger(),
  });
  orders.offer({
    orderId: 'late',
    target: { kind: 'all' },
    windowMs: 60_000,
    reason: 'x',
    createdAt: clock.now() - 40_000,
  });
  t.equal(orders.pendingAt, clock.now() + 10_000, 'half of the 20 s left');
  orders.offer({
    orderId: 'over',
    target: { kind: 'all' },
    windowMs: 60_000,
    reason: 'x',
    createdAt: clock.now() - 120_000,
  });
  t.equal(orders.pendingAt, clock.now(), 'a window already over: at once');
});
