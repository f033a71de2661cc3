import t from 'tap';
import { FakeClock } from '../../common/clock.ts';
import { silentLogger } from '../../common/logger.ts';
import { ReplicaSync } from './replica-sync.ts';

/** A reload that finishes when the test says so, counting its runs. */
function gate() {
  let runs = 0;
  let release: (() => void) | undefined;
  return {
    get runs() {
      return runs;
    },
    reload: () =>
      new Promise<void>((resolve) => {
        runs++;
        release = resolve;
      }),
    finish: () => release?.(),
  };
}

t.test('signals reload their kind; during a reload, more signals make exactly one more run', async (t) => {
  const sync = new ReplicaSync({ intervalMs: 60_000 }, { clock: new FakeClock(), logger: silentLogger() });
  const revocation = gate();
  let policies = 0;
  sync.register('revocation', revocation.reload);
  sync.register('policy', async () => void policies++);
  sync.start();
  t.teardown(() => sync.stop());
  const first = sync.signal('revocation');
  void sync.signal('revocation');
  void sync.signal('revocation');
  t.equal(revocation.runs, 1, 'one reload at a time');
  revocation.finish();
  await new Promise((r) => setImmediate(r));
  t.equal(revocation.runs, 2, 'the signals that came meanwhile make one more');
  revocation.finish();
  await first;
  t.equal(revocation.runs, 2, 'and no more');
  await sync.signal('policy');
  t.equal(policies, 1, 'other kinds are independent');
});

t.test("'all' and the periodic backstop reload every kind; a failing reload is counted, not thrown", async (t) => {
  const clock = new FakeClock();
  const results: string[] = [];
  const sync = new ReplicaSync(
    { intervalMs: 30_000 },
    { clock, logger: silentLogger(), onReload: (kind, ok) => results.push(`${kind}:${ok}`) },
  );
  sync.register('ca', async () => undefined);
  sync.register('rotation', async () => {
    throw new Error('store unavailable');
  });
  sync.start();
  t.teardown(() => sync.stop());
  await sync.signal('all');
  t.same(results.sort(), ['ca:true', 'rotation:false']);
  results.length = 0;
  await clock.waitForTimers(1);
  clock.advance(30_000);
  await new Promise((r) => setImmediate(r));
  t.same(results.sort(), ['ca:true', 'rotation:false'], 'the interval reloads everything again');
});
