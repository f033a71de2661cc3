import t from 'tap';
import { FakeClock } from '../../common/clock.ts';
import { silentLogger } from '../../common/logger.ts';
import { TICKET_KEYS_BYTES, TicketKeyRotator } from './ticket-key-rotator.ts';

function rig() {
  const clock = new FakeClock();
  const keys: Buffer[] = [];
  let n = 0;
  const rotator = new TicketKeyRotator({
    target: { setTicketKeys: (k) => keys.push(k) },
    intervalMs: 60_000,
    clock,
    logger: silentLogger(),
    randomBytes: (size) => Buffer.alloc(size, ++n),
  });
  return { clock, keys, rotator };
}

t.test('sets keys at start and every interval', async (t) => {
  const { clock, keys, rotator } = rig();
  rotator.start();
  t.equal(keys.length, 1);
  t.equal(keys[0]?.length, TICKET_KEYS_BYTES);
  clock.advance(59_999);
  t.equal(keys.length, 1);
  clock.advance(1);
  t.equal(keys.length, 2);
  t.not(keys[0]?.toString('hex'), keys[1]?.toString('hex'), 'fresh keys each time');
});

t.test('an immediate rotation restarts the schedule', async (t) => {
  const { clock, keys, rotator } = rig();
  rotator.start();
  clock.advance(30_000);
  rotator.rotate('trust bundle changed');
  t.equal(keys.length, 2);
  clock.advance(59_999);
  t.equal(keys.length, 2, 'the old timer was cancelled');
  clock.advance(1);
  t.equal(keys.length, 3);
  t.equal(rotator.rotations, 3);
});

t.test('stop cancels the schedule and later rotations', async (t) => {
  const { clock, keys, rotator } = rig();
  rotator.start();
  rotator.stop();
  clock.advance(120_000);
  rotator.rotate('late');
  t.equal(keys.length, 1);
  t.equal(clock.pendingTimers, 0);
});
