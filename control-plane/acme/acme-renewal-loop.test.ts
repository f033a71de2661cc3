import t from 'tap';
import { FakeClock } from '../../common/clock.ts';
import { silentLogger } from '../../common/logger.ts';
import { AcmeRenewalLoop } from './acme-renewal-loop.ts';

t.test('one pass at start, then one per interval; a failing pass does not stop the loop', async (t) => {
  const clock = new FakeClock();
  let passes = 0;
  const settled: (() => void)[] = [];
  const duty = {
    runOnce: async () => {
      passes++;
      await new Promise<void>((resolve) => settled.push(resolve));
      if (passes === 2) throw new Error('boom');
    },
  };
  const loop = new AcmeRenewalLoop({ intervalMs: 60_000 }, { duty, clock, logger: silentLogger() });
  loop.start();
  t.teardown(() => loop.stop());
  clock.advance(0);
  t.equal(passes, 1, 'first pass at start');
  const joined = loop.runOnce();
  t.equal(passes, 1, 'a pass while one runs joins it');
  settled.shift()!();
  await joined;
  await clock.waitForTimers(1);
  clock.advance(59_999);
  t.equal(passes, 1, 'nothing before the interval');
  clock.advance(1);
  t.equal(passes, 2);
  settled.shift()!();
  await clock.waitForTimers(1);
  clock.advance(60_000);
  t.equal(passes, 3, 'the failed pass was logged and the loop went on');
  settled.shift()!();
  loop.stop();
});
