import t from 'tap';
import { FakeClock } from '../../common/clock.ts';
import { RateLimiter } from './rate-limiter.ts';

t.test('allows `limit` per key per window and reports what it suppressed', async (t) => {
  const clock = new FakeClock();
  const limiter = new RateLimiter({ limit: 2, windowMs: 1000, clock });
  t.same(
    [limiter.take('a'), limiter.take('a'), limiter.take('a'), limiter.take('a')].map((d) => d.allowed),
    [true, true, false, false],
  );
  t.ok(limiter.take('b').allowed, 'keys are independent');
  clock.advance(999);
  t.notOk(limiter.take('a').allowed, 'still the same window');
  clock.advance(1);
  t.same(limiter.take('a'), { allowed: true, suppressed: 3 }, 'new window; says how many were dropped');
  t.same(limiter.take('a'), { allowed: true, suppressed: 0 });
});

t.test('keeps at most maxKeys windows', async (t) => {
  const clock = new FakeClock();
  const limiter = new RateLimiter({ limit: 1, windowMs: 1000, clock, maxKeys: 2 });
  limiter.take('a');
  limiter.take('b');
  limiter.take('c');
  t.ok(limiter.take('a').allowed, 'a was forgotten, so it starts afresh');
});

t.test('rejects nonsensical limits', async (t) => {
  t.throws(() => new RateLimiter({ limit: 0, windowMs: 1000, clock: new FakeClock() }));
  t.throws(() => new RateLimiter({ limit: 1, windowMs: 0, clock: new FakeClock() }));
});
