import t from 'tap';
import { FakeClock } from '../../common/clock.ts';
import { type AlertRecord, planAlerts, type WatchedCertificate } from './alert-plan.ts';
import { DEFAULT_EXPIRY_POLICY, expiryVerdict } from './expiry-rule.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 1);

t.test('expiryVerdict is a pure rule on now', async (t) => {
  const longLived = { notBefore: T0, notAfter: T0 + 90 * DAY };
  const svid = { notBefore: T0, notAfter: T0 + 3 * HOUR };
  const cases: [string, { notBefore: number; notAfter: number }, number, string | undefined, string | undefined][] = [
    ['long-lived, 31 days left', longLived, T0 + 59 * DAY, undefined, undefined],
    ['long-lived, exactly 30 days left', longLived, T0 + 60 * DAY, 'days-30', 'warning'],
    ['long-lived, 15 days left', longLived, T0 + 75 * DAY, 'days-30', 'warning'],
    ['long-lived, 14 days left', longLived, T0 + 76 * DAY, 'days-14', 'warning'],
    ['long-lived, 7 days left', longLived, T0 + 83 * DAY, 'days-7', 'critical'],
    ['long-lived, 1 ms left', longLived, T0 + 90 * DAY - 1, 'days-7', 'critical'],
    ['long-lived, at notAfter', longLived, T0 + 90 * DAY, 'expired', 'critical'],
    ['SVID before 2/3', svid, T0 + 2 * HOUR - 1, undefined, undefined],
    ['SVID at 2/3', svid, T0 + 2 * HOUR, 'lifetime', 'critical'],
    ['SVID expired', svid, T0 + 3 * HOUR, 'expired', 'critical'],
    [
      '6-day certificate is short-lived',
      { notBefore: T0, notAfter: T0 + 6 * DAY },
      T0 + 4 * DAY,
      'lifetime',
      'critical',
    ],
    ['7-day certificate is long-lived', { notBefore: T0, notAfter: T0 + 7 * DAY }, T0 + 1, 'days-7', 'critical'],
  ];
  for (const [name, cert, now, threshold, severity] of cases) {
    const v = expiryVerdict(cert, now);
    t.same([v?.threshold, v?.severity], [threshold, severity], name);
  }
  const custom = { ...DEFAULT_EXPIRY_POLICY, daysBefore: [60, 10], criticalWithinDays: 10 };
  t.equal(expiryVerdict(longLived, T0 + 30 * DAY, custom)?.threshold, 'days-60', 'thresholds are configurable');
  t.equal(expiryVerdict(longLived, T0 + 80 * DAY, custom)?.severity, 'critical');
});

/** Runs the plan and applies it, as the engine does with the store, and returns what was raised this step. */
function step(alerts: AlertRecord[], certificates: WatchedCertificate[], now: number) {
  const plan = planAlerts({ certificates, alerts, now, policy: DEFAULT_EXPIRY_POLICY });
  for (const r of plan.resolve) {
    const i = alerts.findIndex((a) => a.alertId === r.alertId);
    alerts[i] = { ...alerts[i]!, resolvedAt: now, resolution: r.resolution };
  }
  alerts.push(...plan.raise);
  return plan;
}

const watched = (id: string, notBefore: number, notAfter: number, status: WatchedCertificate['status'] = 'active') => ({
  id,
  name: `www-${id}.example.com`,
  source: 'imported',
  serial: id,
  subject: `CN=${id}`,
  owner: 'edge-team',
  notBefore,
  notAfter,
  status,
});

t.test('a long-lived certificate walks through 30/14/7/expired: one alert per threshold', async (t) => {
  const clock = new FakeClock(T0);
  const alerts: AlertRecord[] = [];
  const cert = watched('aa', T0, T0 + 90 * DAY);
  const raisedAt: string[] = [];
  // Evaluated every 6 hours for 100 days: each threshold is raised exactly once, at the first evaluation past it.
  while (clock.now() < T0 + 100 * DAY) {
    const plan = step(alerts, [cert], clock.now());
    raisedAt.push(...plan.raise.map((a) => `${a.threshold}@${(clock.now() - T0) / DAY}`));
    await clock.advance(6 * HOUR);
  }
  t.same(raisedAt, ['days-30@60', 'days-14@76', 'days-7@83', 'expired@90']);
  t.same(
    alerts.map((a) => [a.threshold, a.severity, a.resolution]),
    [
      ['days-30', 'warning', 'escalated'],
      ['days-14', 'warning', 'escalated'],
      ['days-7', 'critical', 'escalated'],
      ['expired', 'critical', null],
    ],
    'one alert open at a time; expired stays open',
  );
  t.match(alerts[0]?.message, /expires within 30 days .*: renew it/);
});

t.test('an SVID not renewed at 2/3 alerts once, and its renewal resolves it', async (t) => {
  const alerts: AlertRecord[] = [];
  const svid = watched('s1', T0, T0 + HOUR);
  t.same(step(alerts, [svid], T0 + 39 * 60_000).raise, [], 'before 2/3 nothing');
  t.equal(step(alerts, [svid], T0 + 40 * 60_000).raise[0]?.threshold, 'lifetime');
  t.same(step(alerts, [svid], T0 + 45 * 60_000).raise, [], 'not raised twice');
  const renewed = watched('s2', T0 + 46 * 60_000, T0 + 106 * 60_000);
  const plan = step(alerts, [{ ...svid, status: 'superseded' }, renewed], T0 + 46 * 60_000);
  t.same(plan.resolve, [{ alertId: 's1/lifetime', resolution: 'replaced' }]);
  t.same(plan.raise, []);
  // The old SVID expires later: superseded, it never alerts again.
  t.same(step(alerts, [{ ...svid, status: 'superseded' }, renewed], T0 + HOUR + 1).raise, []);
});

t.test('a replaced certificate raises nothing more; revocation and removal resolve', async (t) => {
  const alerts: AlertRecord[] = [];
  const old = watched('o1', T0, T0 + 90 * DAY);
  step(alerts, [old], T0 + 80 * DAY);
  const replacement = watched('n1', T0 + 81 * DAY, T0 + 171 * DAY);
  const after = step(alerts, [{ ...old, status: 'superseded' }, replacement], T0 + 81 * DAY);
  t.same(after.resolve, [{ alertId: 'o1/days-14', resolution: 'replaced' }]);
  for (const at of [83, 90, 120]) {
    t.same(step(alerts, [{ ...old, status: 'superseded' }, replacement], T0 + at * DAY).raise, [], `day ${at}`);
  }
  const revoked = watched('r1', T0, T0 + 10 * DAY);
  step(alerts, [revoked], T0);
  t.same(step(alerts, [{ ...revoked, status: 'revoked' }], T0 + DAY).resolve, [
    { alertId: 'r1/days-14', resolution: 'revoked' },
  ]);
  const gone = watched('g1', T0, T0 + 10 * DAY);
  step(alerts, [gone], T0);
  t.same(step(alerts, [], T0 + DAY).resolve, [{ alertId: 'g1/days-14', resolution: 'removed' }]);
});

t.test('a certificate first seen close to expiry raises only the threshold it is in', async (t) => {
  const alerts: AlertRecord[] = [];
  t.same(
    step(alerts, [watched('late', T0, T0 + 10 * DAY)], T0).raise.map((a) => a.threshold),
    ['days-14'],
  );
});
