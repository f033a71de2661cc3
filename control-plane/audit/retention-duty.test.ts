import t from 'tap';
import { FakeClock } from '../../common/clock.ts';
import { silentLogger } from '../../common/logger.ts';
import { RetentionDuty } from './retention-duty.ts';

const DAY = 86_400_000;

t.test('prunes at start and every hour with bounds from now; a failed run is retried at the next tick', async (t) => {
  const clock = new FakeClock();
  const calls: [string, number][] = [];
  let fail = true;
  const duty = new RetentionDuty(
    { auditRetentionMs: 365 * DAY, fleetForgetAfterMs: 7 * DAY },
    {
      store: {
        pruneAudit: async (before) => {
          calls.push(['audit', before]);
          if (fail) throw new Error('store busy');
          return 2;
        },
        pruneSidecarContacts: async (before) => {
          calls.push(['sidecars', before]);
          return 0;
        },
      },
      clock,
      logger: silentLogger(),
    },
  );
  const start = clock.now();
  duty.start();
  await duty.idle();
  t.same(calls, [['audit', start - 365 * DAY]], 'first run failed before the sidecars');
  fail = false;
  clock.advance(3_600_000);
  await duty.idle();
  t.same(calls.slice(1), [
    ['audit', start + 3_600_000 - 365 * DAY],
    ['sidecars', start + 3_600_000 - 7 * DAY],
  ]);
  duty.stop();
  clock.advance(3_600_000);
  await duty.idle();
  t.equal(calls.length, 3, 'stopped: no more runs');
});
