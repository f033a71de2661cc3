import t from 'tap';
import { FakeClock } from '../../common/clock.ts';
import { DropCatchUp } from './drop-catch-up.ts';

t.test('catches up at the first drop, once per window while drops go on, and once after the last', async (t) => {
  const clock = new FakeClock();
  let runs = 0;
  const catchUp = new DropCatchUp({ windowMs: 15_000, clock, catchUp: () => runs++ });
  catchUp.dropped();
  t.equal(runs, 1, 'the first drop fetches at once');
  for (let i = 0; i < 100; i++) catchUp.dropped();
  t.equal(runs, 1, 'more drops within the window wait');
  clock.advance(14_999);
  t.equal(runs, 1);
  clock.advance(1);
  t.equal(runs, 2, 'the end of a window that saw drops fetches once more');
  clock.advance(60_000);
  t.equal(runs, 2, 'no drops, no fetch');
  catchUp.dropped();
  t.equal(runs, 3, 'a drop after a quiet window fetches at once');
  catchUp.dropped();
  catchUp.stop();
  clock.advance(60_000);
  t.equal(runs, 3, 'stopped: the pending catch-up is cancelled');
});
