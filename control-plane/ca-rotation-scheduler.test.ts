import t from 'tap';
import { FakeClock } from '../common/clock.ts';
import { silentLogger } from '../common/logger.ts';
import type { CaRotation } from './ca-rotation.ts';
import { CaRotationScheduler } from './ca-rotation-scheduler.ts';
import type { CaPhase } from './ca/ca-rotation-files.ts';
import { DAY_MS } from './ca/templates.ts';

const T0 = Date.UTC(2026, 0, 1);
const LIFE = 40 * DAY_MS;

/** A CA that moves through the phases as the scheduler asks, on the fake clock; retire has blockers at first. */
function fakeRotation(clock: FakeClock, blockersOnFirstRetire: number) {
  let phase: CaPhase = 'stable';
  let intermediate = { notBefore: T0, notAfter: T0 + LIFE };
  let preparedAt: number | undefined;
  let activatedAt: number | undefined;
  let retireCalls = 0;
  const steps: { step: string; at: number }[] = [];
  const rotation: Pick<CaRotation, 'scheduleState' | 'prepare' | 'activate' | 'retire'> = {
    scheduleState: async () => ({
      phase,
      intermediate,
      root: { notAfter: T0 + 10 * 365 * DAY_MS },
      rootKeyOnline: true,
      ...(preparedAt ? { preparedAt } : {}),
      ...(activatedAt ? { activatedAt } : {}),
    }),
    prepare: async (o) => {
      steps.push({ step: `prepare${o.intermediateOnly ? ':intermediate' : ':root'}`, at: clock.now() });
      phase = 'prepared';
      preparedAt = clock.now();
      return { status: undefined as never };
    },
    activate: async () => {
      steps.push({ step: 'activate', at: clock.now() });
      phase = 'activated';
      activatedAt = clock.now();
      intermediate = { notBefore: clock.now(), notAfter: clock.now() + LIFE };
      return { status: undefined as never, orderId: 'o' };
    },
    retire: async () => {
      retireCalls++;
      if (retireCalls <= blockersOnFirstRetire)
        return { status: undefined as never, blockers: [{ spiffeId: 'spiffe://example.org/late' } as never] };
      steps.push({ step: 'retire', at: clock.now() });
      phase = 'stable';
      activatedAt = undefined;
      preparedAt = undefined;
      return { status: undefined as never, blockers: [] };
    },
  };
  return { rotation, steps };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

/** Steps from timer to timer, letting each tick's promises settle before the clock moves on. */
async function advance(clock: FakeClock, ms: number): Promise<void> {
  const end = clock.now() + ms;
  for (;;) {
    const next = clock.nextTimerAt;
    if (next === undefined || next > end) break;
    clock.set(Math.max(next, clock.now()));
    await settle();
  }
  clock.set(end);
}

t.test(
  'the schedule prepares, activates and retires a 40-day intermediate at the right times, unattended',
  async (t) => {
    const clock = new FakeClock(T0);
    const { rotation, steps } = fakeRotation(clock, 1);
    const scheduler = new CaRotationScheduler(
      { auto: true, propagationMs: 600_000, activateWindowMs: 3_600_000 },
      { rotation, clock, logger: silentLogger(), intermediateTtlMs: LIFE },
    );
    scheduler.start();
    await advance(clock, 1);
    t.same(steps, [], 'nothing is due at issuance');
    t.match(
      await scheduler.preview(),
      { step: 'prepare', at: T0 + 10 * DAY_MS, intermediateOnly: true },
      '30 days before expiry comes before half life',
    );
    await advance(clock, 10 * DAY_MS);
    t.same(
      steps.map((s) => s.step),
      ['prepare:intermediate'],
    );
    t.equal(steps[0]!.at, T0 + 10 * DAY_MS, 'prepared when it became due');
    await advance(clock, 23 * DAY_MS + 30 * 60_000);
    t.same(
      steps.map((s) => s.step),
      ['prepare:intermediate', 'activate'],
    );
    t.equal(steps[1]!.at, T0 + 33 * DAY_MS, 'activated 7 days before expiry (earlier than 1/6 of the life left)');
    // The first retire finds a blocker; the scheduler waits and tries again instead of looping.
    await advance(clock, 2 * 3_600_000);
    t.same(
      steps.map((s) => s.step),
      ['prepare:intermediate', 'activate', 'retire'],
      'retired after the blocker went away',
    );
    const retiredAfter = steps[2]!.at - steps[1]!.at;
    t.equal(
      retiredAfter,
      (60 + 5 + 10) * 60_000,
      'first retire after the window and grace, blocked, retried 10 min later',
    );
    scheduler.stop();
  },
);

t.test('disabled: nothing ever happens', async (t) => {
  const clock = new FakeClock(T0);
  const { rotation, steps } = fakeRotation(clock, 0);
  const scheduler = new CaRotationScheduler(
    { auto: false, propagationMs: 0, activateWindowMs: 0 },
    { rotation, clock, logger: silentLogger(), intermediateTtlMs: LIFE },
  );
  scheduler.start();
  await advance(clock, 50 * DAY_MS);
  t.same(steps, []);
  t.equal(clock.pendingTimers, 0);
});
