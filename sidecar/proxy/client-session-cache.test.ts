import t from 'tap';
import { FakeClock } from '../../common/clock.ts';
import { ClientSessionCache, type CachedSession } from './client-session-cache.ts';

const server = (serial: string) => ({
  identity: { spiffeId: `spiffe://example.org/${serial}` },
  serial,
  fingerprint256: `FP-${serial}`,
  notAfter: 0,
  raw: Buffer.from(serial),
});
const entry = (name: string, expiresAt: number, serial = 'A'): CachedSession => ({
  session: Buffer.from(name),
  server: server(serial),
  expiresAt,
});
/** Drains the cache, newest first. */
const names = (cache: ClientSessionCache) => {
  const out: string[] = [];
  for (let e = cache.take(); e; e = cache.take()) {
    out.push(e.session.toString());
    cache.forget(e);
  }
  return out;
};

t.test('offers the newest valid ticket and keeps at most maxEntries', async (t) => {
  const clock = new FakeClock(1000);
  const cache = new ClientSessionCache({ clock, maxEntries: 2 });
  cache.add(entry('a', 5000));
  cache.add(entry('b', 5000));
  cache.add(entry('c', 5000));
  t.equal(cache.size, 2);
  t.equal(cache.take()?.session.toString(), 'c', 'newest first, and offered again until replaced');
  t.equal(cache.take()?.session.toString(), 'c');
  t.same(names(cache), ['c', 'b'], 'a was evicted');
});

t.test('expired tickets are never offered nor added', async (t) => {
  const clock = new FakeClock(1000);
  const cache = new ClientSessionCache({ clock });
  cache.add(entry('dead', 1000));
  t.equal(cache.size, 0, 'a ticket already at its expiry is not kept');
  cache.add(entry('old', 2000));
  cache.add(entry('new', 3000));
  clock.set(2000);
  t.equal(cache.take()?.session.toString(), 'new');
  t.equal(cache.size, 1, 'the expired one was dropped when met');
  clock.set(3000);
  t.equal(cache.take(), undefined);
});

t.test('forgetWhere and clear drop tickets by server or all', async (t) => {
  const clock = new FakeClock(1000);
  const cache = new ClientSessionCache({ clock });
  cache.add(entry('a1', 5000, 'A'));
  cache.add(entry('b1', 5000, 'B'));
  cache.add(entry('a2', 5000, 'A'));
  t.equal(
    cache.forgetWhere((s) => s.serial === 'A'),
    2,
  );
  t.same(names(cache), ['b1']);
  cache.add(entry('c', 5000));
  cache.clear();
  t.equal(cache.size, 0);
});

t.test('a ticket the handshake could outlive is not offered (offerMarginMs)', async (t) => {
  const clock = new FakeClock(1000);
  const cache = new ClientSessionCache({ clock, offerMarginMs: 500 });
  cache.add(entry('soon', 1400));
  cache.add(entry('later', 2000));
  t.equal(cache.take()?.session.toString(), 'later');
  clock.set(1499);
  t.equal(cache.take()?.session.toString(), 'later', 'still 501 ms to go');
  clock.set(1500);
  t.equal(cache.take(), undefined, 'within the margin of its expiry: a full handshake instead');
});
