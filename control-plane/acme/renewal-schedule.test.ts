import t from 'tap';
import {
  ALERT_WITHIN_MS,
  backoffMs,
  DAY_MS,
  lifetimeRenewalTime,
  nextAriCheckAt,
  nextAttemptAt,
  planRenewal,
  renewalAlertDue,
} from './renewal-schedule.ts';

const T0 = Date.UTC(2026, 0, 1);
const fixed = (value: number) => () => value;

t.test('lifetime rule: a third of the lifetime left, a half under 10 days', async (t) => {
  const cases = [
    { name: '90-day certificate renews at day 60', days: 90, expectDay: 60 },
    { name: '30-day certificate renews at day 20', days: 30, expectDay: 20 },
    { name: '10-day certificate is not short: a third left', days: 10, expectDay: 10 - 10 / 3 },
    { name: '6-day certificate renews at half-life', days: 6, expectDay: 3 },
    { name: '5-year certificate (pebble 2.4) renews with 20 months left', days: 1826, expectDay: 1826 - 1826 / 3 },
  ];
  for (const c of cases) {
    const at = lifetimeRenewalTime({ notBefore: T0, notAfter: T0 + c.days * DAY_MS });
    t.equal(at, Math.round(T0 + c.expectDay * DAY_MS), c.name);
  }
});

t.test('ARI first: a uniform point inside the suggested window', async (t) => {
  const certificate = { notBefore: T0, notAfter: T0 + 90 * DAY_MS };
  const window = { start: T0 + 50 * DAY_MS, end: T0 + 52 * DAY_MS };
  const cases = [
    { name: 'random 0 picks the window start', random: 0, expect: window.start },
    { name: 'random 0.5 picks the middle', random: 0.5, expect: T0 + 51 * DAY_MS },
    { name: 'random just under 1 stays inside the window', random: 0.999999, expect: window.end - 173 },
  ];
  for (const c of cases) {
    const plan = planRenewal({ certificate, ari: window, random: fixed(c.random) });
    t.equal(plan.basis, 'ari', `${c.name}: basis`);
    t.equal(plan.at, c.expect, c.name);
    t.ok(plan.at >= window.start && plan.at < window.end, `${c.name}: inside`);
  }
});

t.test('the chosen time is kept while the window is unchanged and redrawn when it moves', async (t) => {
  const certificate = { notBefore: T0, notAfter: T0 + 90 * DAY_MS };
  const window = { start: T0 + 50 * DAY_MS, end: T0 + 52 * DAY_MS };
  const first = planRenewal({ certificate, ari: window, random: fixed(0.25) });
  const again = planRenewal({ certificate, ari: window, previous: first.chosen, random: fixed(0.9) });
  t.equal(again.at, first.at, 'same window: same time, no second draw');
  // A CA that revokes (or wants the certificate replaced early) moves the window into the past.
  const moved = { start: T0 + 1 * DAY_MS, end: T0 + 1 * DAY_MS + 3_600_000 };
  const redrawn = planRenewal({ certificate, ari: moved, previous: first.chosen, random: fixed(0.5) });
  t.equal(redrawn.at, moved.start + 1_800_000, 'moved window: drawn again inside it');
});

t.test('an invalid window (end not after start) falls back to the lifetime rule', async (t) => {
  const certificate = { notBefore: T0, notAfter: T0 + 90 * DAY_MS };
  for (const ari of [
    { start: T0 + 10 * DAY_MS, end: T0 + 10 * DAY_MS },
    { start: T0 + 10 * DAY_MS, end: T0 + 9 * DAY_MS },
  ]) {
    const plan = planRenewal({ certificate, ari, random: fixed(0.5) });
    t.same(plan, { at: T0 + 60 * DAY_MS, basis: 'lifetime' });
  }
  t.same(planRenewal({ certificate, random: fixed(0.5) }), { at: T0 + 60 * DAY_MS, basis: 'lifetime' }, 'no ARI');
});

t.test('capped exponential backoff', async (t) => {
  const cases: [number, number][] = [
    [0, 0],
    [1, 60_000],
    [2, 120_000],
    [3, 240_000],
    [8, 7_680_000],
    [9, 4 * 3_600_000],
    [50, 4 * 3_600_000],
  ];
  for (const [failures, expected] of cases) t.equal(backoffMs(failures), expected, `${failures} failures`);
});

t.test('next attempt: renewal time, then backoff, then Retry-After', async (t) => {
  const renewAt = T0 + 1000;
  const cases = [
    { name: 'no failure: at the renewal time', input: { renewAt, failures: 0 }, expect: renewAt },
    {
      name: 'one failure: a minute after it',
      input: { renewAt, failures: 1, lastFailureAt: T0 + 5000 },
      expect: T0 + 65_000,
    },
    {
      name: 'backoff already over: renewal time rules',
      input: { renewAt: T0 + 10 * DAY_MS, failures: 3, lastFailureAt: T0 },
      expect: T0 + 10 * DAY_MS,
    },
    {
      name: 'Retry-After later than the backoff wins',
      input: { renewAt, failures: 1, lastFailureAt: T0, retryAfterAt: T0 + 3_600_000 },
      expect: T0 + 3_600_000,
    },
  ];
  for (const c of cases) t.equal(nextAttemptAt(c.input), c.expect, c.name);
});

t.test('renewal information is fetched again after Retry-After, within bounds', async (t) => {
  t.equal(nextAriCheckAt(T0, undefined), T0 + 6 * 3_600_000, 'default 6 h');
  t.equal(nextAriCheckAt(T0, 3_600_000), T0 + 3_600_000, 'Retry-After honoured');
  t.equal(nextAriCheckAt(T0, 1_000), T0 + 60_000, 'not more often than a minute');
  t.equal(nextAriCheckAt(T0, 30 * DAY_MS), T0 + DAY_MS, 'not less often than a day');
});

t.test('alert when inside 7 days and still failing', async (t) => {
  const notAfter = T0 + 30 * DAY_MS;
  const cases = [
    { name: '8 days left, failing: no alert yet', now: notAfter - 8 * DAY_MS, failures: 3, expect: false },
    { name: '7 days left, failing: alert', now: notAfter - ALERT_WITHIN_MS, failures: 1, expect: true },
    { name: '2 days left, not failing: no alert', now: notAfter - 2 * DAY_MS, failures: 0, expect: false },
    { name: 'expired and failing: alert', now: notAfter + 1, failures: 4, expect: true },
  ];
  for (const c of cases) t.equal(renewalAlertDue({ now: c.now, notAfter, failures: c.failures }), c.expect, c.name);
});
