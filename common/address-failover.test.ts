import t from 'tap';
import { AddressFailover, parseAddressList } from './address-failover.ts';
import { FakeClock } from './clock.ts';
import { ErrorCode, SigilError } from './errors.ts';

/** A seeded sequence of [0, 1) values: each test case fixes where the rotation starts and the jitter. */
function seeded(values: readonly number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] as number;
}

const down = () => new SigilError(ErrorCode.UNAVAILABLE, 'connection refused');

/** Records the pauses instead of waiting them out. */
function pauses(): { slept: number[]; sleep: (ms: number) => Promise<void> } {
  const slept: number[] = [];
  return { slept, sleep: async (ms) => void slept.push(ms) };
}

t.test('parseAddressList', async (t) => {
  t.same(parseAddressList('a:1, b:2,a:1', 'controlPlane.address'), ['a:1', 'b:2'], 'comma list, duplicates dropped');
  t.same(parseAddressList(['10.0.0.1:7443', '[::1]:7443'], 'x'), ['10.0.0.1:7443', '[::1]:7443']);
  t.throws(() => parseAddressList('', 'controlPlane.address'), { code: ErrorCode.CONFIG_INVALID, message: /empty/ });
  t.throws(() => parseAddressList('a:1,nowhere', 'controlPlane.address'), {
    code: ErrorCode.CONFIG_INVALID,
    message: /"nowhere".*host:port/,
  });
});

t.test('the order starts at a random address and then sticks to the one that answered', async (t) => {
  const clock = new FakeClock();
  const cases: [number, string[]][] = [
    [0, ['a:1', 'b:1', 'c:1']],
    [0.4, ['b:1', 'c:1', 'a:1']],
    [0.99, ['c:1', 'a:1', 'b:1']],
  ];
  for (const [r, order] of cases) {
    const f = new AddressFailover({ addresses: ['a:1', 'b:1', 'c:1'], random: () => r, clock });
    t.same(await f.order(), order, `random ${r}`);
  }
  const f = new AddressFailover({ addresses: ['a:1', 'b:1', 'c:1'], random: seeded([0.5, 0]), clock });
  await f.call('x', async () => 'ok');
  t.equal(f.preferred, 'b:1');
  t.same(await f.order(), ['b:1', 'a:1', 'c:1'], 'the one that answered goes first');
});

t.test('UNAVAILABLE moves on, with a growing jittered pause; other errors are the answer', async (t) => {
  const clock = new FakeClock();
  const tried: string[] = [];
  const { slept, sleep } = pauses();
  const f = new AddressFailover({
    addresses: ['a:1', 'b:1', 'c:1'],
    random: () => 0.5,
    clock,
    sleep,
    baseDelayMs: 100,
  });
  const result = await f.call('renewing', async (address) => {
    tried.push(address);
    if (address !== 'a:1') throw down();
    return address;
  });
  t.equal(result, 'a:1');
  t.same(tried, ['b:1', 'c:1', 'a:1']);
  t.same(slept, [50, 100], 'jittered pauses before the second and third address');
  t.same(
    [0, 1, 2, 3, 10].map((i) =>
      new AddressFailover({ addresses: ['a:1'], random: () => 0.999, clock, baseDelayMs: 100 }).delayMs(i),
    ),
    [0, 99, 199, 399, 999],
    'delay bounds: 0, then doubling, capped',
  );

  const refusals: string[] = [];
  await t.rejects(
    f.call('renewing', async (address) => {
      refusals.push(address);
      throw new SigilError(ErrorCode.REVOKED, 'revoked');
    }),
    { code: ErrorCode.REVOKED },
  );
  t.same(refusals, ['a:1'], 'a refusal is not retried elsewhere');
});

t.test('every address down: UNAVAILABLE naming each one tried', async (t) => {
  const clock = new FakeClock();
  const f = new AddressFailover({ addresses: ['a:1', 'b:1'], random: () => 0, clock, ...pauses() });
  const err = await f
    .call('fetching the trust state', async () => {
      throw down();
    })
    .catch((e: unknown) => e);
  t.equal((err as SigilError).code, ErrorCode.UNAVAILABLE);
  t.match(
    (err as Error).message,
    /fetching the trust state: no control-plane replica answered \(tried a:1, b:1\); last: connection refused/,
  );
  const single = new AddressFailover({ addresses: ['a:1'], random: () => 0, clock });
  await t.rejects(
    single.call('x', async () => Promise.reject(down())),
    { message: 'connection refused' },
    'one address: its own error',
  );
});

t.test('a DNS name expands to every address it resolves to', async (t) => {
  const clock = new FakeClock();
  const f = new AddressFailover({
    addresses: ['cp.sigil.internal:7443', '10.0.0.9:7443'],
    random: () => 0,
    clock,
    resolve: async (a) => (a.startsWith('cp.') ? ['10.0.0.1:7443', '10.0.0.2:7443'] : [a]),
  });
  t.same(await f.order(), ['10.0.0.1:7443', '10.0.0.2:7443', '10.0.0.9:7443']);
  const failing = new AddressFailover({
    addresses: ['cp.sigil.internal:7443'],
    random: () => 0,
    clock,
    resolve: async () => Promise.reject(new Error('ENOTFOUND')),
  });
  t.same(await failing.order(), ['cp.sigil.internal:7443'], 'a failed lookup leaves the name to the gRPC resolver');
});
