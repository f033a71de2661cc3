import t from 'tap';
import { activateAt, nextRotationStep, prepareAt, type RotationScheduleInput } from './rotation-schedule.ts';
import { DAY_MS } from './templates.ts';

const T0 = Date.UTC(2026, 0, 1);
const YEAR = 365 * DAY_MS;
const config = { auto: true, propagationMs: 10 * 60_000, activateWindowMs: 60 * 60_000 };
const base: RotationScheduleInput = {
  now: T0,
  phase: 'stable',
  intermediate: { notBefore: T0, notAfter: T0 + YEAR },
  root: { notAfter: T0 + 10 * YEAR },
  intermediateTtlMs: YEAR,
  rootKeyOnline: true,
};

t.test('prepare and activate points: the earlier of the two rules', async (t) => {
  const cases: { name: string; life: number; prepare: number; activate: number }[] = [
    { name: '1 year: half life, 1/6 left', life: YEAR, prepare: YEAR / 2, activate: YEAR - YEAR / 6 },
    {
      name: '30 days: 30 days before expiry is at once; 1/6 left beats 7 days',
      life: 30 * DAY_MS,
      prepare: 0,
      activate: 23 * DAY_MS,
    },
    {
      name: '60 days: 30 days before expiry = half life',
      life: 60 * DAY_MS,
      prepare: 30 * DAY_MS,
      activate: 50 * DAY_MS,
    },
    {
      name: '20 days: 30 days before expiry is before issuance; 7 days left beats 1/6',
      life: 20 * DAY_MS,
      prepare: -10 * DAY_MS,
      activate: 13 * DAY_MS,
    },
    {
      name: '10 years: half life; 1/6 left',
      life: 10 * YEAR,
      prepare: 5 * YEAR,
      activate: 10 * YEAR - (10 * YEAR) / 6,
    },
  ];
  for (const c of cases) {
    const i = { notBefore: T0, notAfter: T0 + c.life };
    t.equal(prepareAt(i) - T0, c.prepare, `${c.name}: prepare`);
    t.equal(activateAt(i) - T0, c.activate, `${c.name}: activate`);
  }
});

t.test('the next step follows the phase', async (t) => {
  const table: { name: string; input: Partial<RotationScheduleInput>; want: object }[] = [
    {
      name: 'stable, long-lived root: intermediate only',
      input: {},
      want: { step: 'prepare', at: T0 + YEAR / 2, intermediateOnly: true },
    },
    {
      name: 'stable, root expiring within two intermediate lives: new root',
      input: { root: { notAfter: T0 + YEAR } },
      want: { step: 'prepare', intermediateOnly: false },
    },
    {
      name: 'stable, root key offline: blocked, operator told what to run',
      input: { rootKeyOnline: false },
      want: { step: 'blocked', reason: /--root-key/ },
    },
    {
      name: 'stable, offline root and a new root due: blocked too (its key must go offline)',
      input: { rootKeyOnline: false, root: { notAfter: T0 + YEAR } },
      want: { step: 'blocked', reason: /--root-key-out/ },
    },
    {
      name: 'prepared long ago: activate at 1/6 left',
      input: { phase: 'prepared', preparedAt: T0 },
      want: { step: 'activate', at: T0 + YEAR - YEAR / 6 },
    },
    {
      name: 'prepared a moment ago at the activation point: wait for propagation',
      input: { phase: 'prepared', preparedAt: T0 + YEAR - YEAR / 6 },
      want: { step: 'activate', at: T0 + YEAR - YEAR / 6 + 10 * 60_000 },
    },
    {
      name: 'activated: retire after the window and a grace',
      input: { phase: 'activated', activatedAt: T0 },
      want: { step: 'retire', at: T0 + 60 * 60_000 + 5 * 60_000 },
    },
  ];
  for (const row of table) t.match(nextRotationStep({ ...base, ...row.input }, config), row.want, row.name);
  t.same(nextRotationStep(base, { ...config, auto: false }), { step: 'none' }, 'disabled: the operator drives');
});
