import t from 'tap';
import { perSecond } from './rotation-wave.ts';

t.test('renewals are counted per whole second after the order', async (t) => {
  const start = 1_000_000;
  t.same(perSecond([start + 10, start + 999, start + 1_000, start + 3_500, start - 5], start), [3, 1, 0, 1]);
  t.same(perSecond([], start), []);
});
