import t from 'tap';
import { FakeClock } from './clock.ts';

t.test('fires timers in order as time advances', async (t) => {
  const clock = new FakeClock(1_000);
  const fired: string[] = [];
  clock.setTimer(300, () => fired.push('b'));
  clock.setTimer(100, () => fired.push('a'));
  const c = clock.setTimer(200, () => fired.push('cancelled'));
  c.cancel();
  clock.advance(150);
  t.same(fired, ['a']);
  t.equal(clock.now(), 1_150);
  clock.advance(1_000);
  t.same(fired, ['a', 'b']);
});

t.test('timers armed while advancing fire within the same advance when due', async (t) => {
  const clock = new FakeClock(0);
  const at: number[] = [];
  clock.setTimer(10, () => {
    at.push(clock.now());
    clock.setTimer(10, () => at.push(clock.now()));
  });
  clock.advance(25);
  t.same(at, [10, 20]);
});

t.test('waitForTimers resolves once code has armed its timer', async (t) => {
  const clock = new FakeClock(0);
  const armed = clock.waitForTimers(1);
  queueMicrotask(() => clock.setTimer(5, () => {}));
  await armed;
  t.equal(clock.pendingTimers, 1);
  t.throws(() => clock.set(-1), RangeError);
});
