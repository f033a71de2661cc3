import t from 'tap';
import { backoffDelayMs, capBeforeExpiryMs, renewalDelayMs } from './renewal-schedule.ts';

const HOUR = 3_600_000;
const fixed = (r: number) => () => r;

t.test('renewalDelayMs: half life ±10 % from notBefore, minus elapsed, never negative', async (t) => {
  const cases = [
    { name: 'fresh SVID, no jitter draw (0.5)', notBefore: 0, now: 0, random: 0.5, want: HOUR / 2 },
    { name: 'lowest draw renews at 45 %', notBefore: 0, now: 0, random: 0, want: 0.45 * HOUR },
    { name: 'highest draw renews at 55 %', notBefore: 0, now: 0, random: 1, want: 0.55 * HOUR },
    { name: 'elapsed time is subtracted', notBefore: 0, now: 10 * 60_000, random: 0.5, want: 20 * 60_000 },
    {
      name: 'backdated notBefore counts as elapsed',
      notBefore: -60_000,
      now: 0,
      random: 0.5,
      want: (HOUR + 60_000) / 2 - 60_000,
    },
    { name: 'past the renewal point renews at once', notBefore: 0, now: 40 * 60_000, random: 0.5, want: 0 },
    { name: 'already expired renews at once', notBefore: 0, now: 2 * HOUR, random: 0.5, want: 0 },
    { name: 'out-of-range draw is clamped', notBefore: 0, now: 0, random: 7, want: 0.55 * HOUR },
  ];
  for (const c of cases) {
    const notAfter = c.name.startsWith('backdated') ? HOUR : c.notBefore + HOUR;
    t.equal(
      renewalDelayMs({ notBefore: c.notBefore, notAfter, now: c.now, random: fixed(c.random) }),
      Math.round(c.want),
      c.name,
    );
  }
});

t.test('renewalDelayMs: jitter fraction is configurable and an empty lifetime renews at once', async (t) => {
  t.equal(renewalDelayMs({ notBefore: 0, notAfter: HOUR, now: 0, random: fixed(0), jitterFraction: 0.2 }), 0.4 * HOUR);
  t.equal(renewalDelayMs({ notBefore: 0, notAfter: 0, now: 0, random: fixed(0.5) }), 0);
  t.equal(
    renewalDelayMs({ notBefore: HOUR, notAfter: 0, now: 0, random: fixed(0.5) }),
    HOUR,
    'inverted window: notBefore is the earliest renewal',
  );
});

t.test('backoffDelayMs: capped exponential with equal jitter by default', async (t) => {
  const cases = [
    { attempt: 1, random: 0, want: 500 },
    { attempt: 1, random: 1, want: 1000 },
    { attempt: 2, random: 0.5, want: 1500 },
    { attempt: 3, random: 0.5, want: 3000 },
    { attempt: 6, random: 1, want: 32_000 },
    { attempt: 7, random: 1, want: 60_000 },
    { attempt: 7, random: 0, want: 30_000 },
    { attempt: 5000, random: 1, want: 60_000 },
    { attempt: 0, random: 1, want: 1000 },
  ];
  for (const c of cases)
    t.equal(backoffDelayMs(c.attempt, { random: fixed(c.random) }), c.want, `attempt ${c.attempt}, draw ${c.random}`);
});

t.test('backoffDelayMs: equal jitter grows with every attempt until the cap', async (t) => {
  let previousMax = 0;
  for (let attempt = 1; attempt <= 6; attempt++) {
    const min = backoffDelayMs(attempt, { random: fixed(0) });
    const max = backoffDelayMs(attempt, { random: fixed(1) });
    t.ok(min >= previousMax, `attempt ${attempt} never waits less than attempt ${attempt - 1} could`);
    previousMax = max;
  }
});

t.test('backoffDelayMs: full jitter and custom base/max', async (t) => {
  const cases = [
    { attempt: 1, random: 0, jitter: 'full' as const, baseMs: 1000, maxMs: 60_000, want: 0 },
    { attempt: 3, random: 0.5, jitter: 'full' as const, baseMs: 1000, maxMs: 60_000, want: 2000 },
    { attempt: 4, random: 1, jitter: 'full' as const, baseMs: 200, maxMs: 1000, want: 1000 },
    { attempt: 2, random: 1, jitter: 'equal' as const, baseMs: 250, maxMs: 10_000, want: 500 },
  ];
  for (const c of cases) {
    t.equal(
      backoffDelayMs(c.attempt, { random: fixed(c.random), jitter: c.jitter, baseMs: c.baseMs, maxMs: c.maxMs }),
      c.want,
      JSON.stringify(c),
    );
  }
});

t.test('capBeforeExpiryMs: a retry never lands past the SVID expiry', async (t) => {
  const cases = [
    { name: 'well before expiry: unchanged', delay: 5000, now: 0, notAfter: HOUR, want: 5000 },
    {
      name: 'would overshoot: pulled in to notAfter - 1 s',
      delay: 60_000,
      now: HOUR - 30_000,
      notAfter: HOUR,
      want: 29_000,
    },
    { name: 'custom margin', delay: 60_000, now: HOUR - 30_000, notAfter: HOUR, marginMs: 10_000, want: 20_000 },
    { name: 'inside the margin: unchanged, no hot loop', delay: 8000, now: HOUR - 500, notAfter: HOUR, want: 8000 },
    { name: 'already expired: unchanged', delay: 8000, now: HOUR + 1, notAfter: HOUR, want: 8000 },
  ];
  for (const c of cases) {
    const input =
      c.marginMs === undefined
        ? { now: c.now, notAfter: c.notAfter }
        : { now: c.now, notAfter: c.notAfter, marginMs: c.marginMs };
    t.equal(capBeforeExpiryMs(c.delay, input), c.want, c.name);
  }
});
