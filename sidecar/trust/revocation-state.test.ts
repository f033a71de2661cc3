import t from 'tap';
import { FakeClock } from '../../common/clock.ts';
import { silentLogger } from '../../common/logger.ts';
import type { RevocationSet } from '../../common/revocation-set.ts';
import { RevocationState } from './revocation-state.ts';

const A = 'spiffe://td/ns/a';
const make = (failOpen = false) => {
  const clock = new FakeClock(1_000_000);
  return {
    clock,
    state: new RevocationState({ maxStalenessMs: 600_000, failOpen }, { clock, logger: silentLogger() }),
  };
};

t.test('never refreshed is stale and fails closed', async (t) => {
  const { state } = make();
  t.ok(state.isStale());
  t.match(state.authorize('aa', A), { allowed: false, reason: /stale/ });
});

t.test('full state, then deltas in order; a gap is reported', async (t) => {
  const { state } = make();
  const changes: RevocationSet[] = [];
  state.onChange((s) => changes.push(s));
  state.replace({ crlNumber: 5, revokedSerials: ['0A'], revokedSpiffeIds: [] });
  t.same(state.authorize('0a', A), { allowed: false, reason: 'revoked' });
  t.same(state.authorize('0b', A), { allowed: true });
  t.equal(
    state.applyDelta({ crlNumber: 6, revokedSerials: [], revokedSpiffeIds: [A], unrevokedSpiffeIds: [] }, 1_000_000),
    'applied',
  );
  t.same(state.authorize('0b', A), { allowed: false, reason: 'revoked' });
  t.equal(
    state.applyDelta({ crlNumber: 8, revokedSerials: ['ff'], revokedSpiffeIds: [], unrevokedSpiffeIds: [] }, 1_000_000),
    'gap',
  );
  t.same(state.authorize('ff', 'spiffe://td/ns/b'), { allowed: true }, 'a gapped delta is not applied');
  t.equal(
    state.applyDelta({ crlNumber: 6, revokedSerials: [], revokedSpiffeIds: [], unrevokedSpiffeIds: [] }, 1_000_000),
    'stale',
  );
  state.replace({ crlNumber: 4, revokedSerials: [], revokedSpiffeIds: [] });
  t.equal(state.set.crlNumber, 6, 'an older full state never rolls back');
  t.equal(changes.length, 2);
});

t.test('staleness: fail closed by default, open when configured', async (t) => {
  for (const failOpen of [false, true]) {
    const { state, clock } = make(failOpen);
    state.replace({ crlNumber: 1, revokedSerials: [], revokedSpiffeIds: [] });
    clock.advance(600_000);
    t.same(state.authorize('aa', A), { allowed: true }, 'at the bound: still fresh');
    clock.advance(1);
    t.equal(state.authorize('aa', A).allowed, failOpen, `past the bound with failOpen=${failOpen}`);
    state.replace({ crlNumber: 1, revokedSerials: [], revokedSpiffeIds: [] });
    t.same(state.authorize('aa', A), { allowed: true }, 'a refresh with the same number makes it fresh again');
  }
});

t.test('replayed old events and an older full state do not clear staleness', async (t) => {
  const { state, clock } = make();
  state.replace({ crlNumber: 5, revokedSerials: [], revokedSpiffeIds: [] });
  const signedAt = clock.now();
  clock.advance(600_001);
  t.ok(state.isStale(), 'the control plane went quiet');
  for (const crlNumber of [3, 4, 5]) {
    const old = { crlNumber, revokedSerials: [], revokedSpiffeIds: [], unrevokedSpiffeIds: [] };
    t.equal(state.applyDelta(old, signedAt), 'stale', `replayed event ${crlNumber} is refused`);
  }
  t.ok(state.isStale(), 'replays of authentic old events leave it stale');
  state.replace({ crlNumber: 2, revokedSerials: [], revokedSpiffeIds: [] });
  t.ok(state.isStale(), 'a full state older than the one held (a store rolled back) is no refresh');
  t.equal(state.set.crlNumber, 5, 'and never rolls the state back');
  const late = { crlNumber: 6, revokedSerials: ['aa'], revokedSpiffeIds: [], unrevokedSpiffeIds: [] };
  t.equal(state.applyDelta(late, signedAt), 'applied', 'a newer change signed long ago is applied (it only adds)');
  t.ok(state.isStale(), 'but refreshes only as of when it was signed');
  t.equal(
    state.applyDelta({ crlNumber: 7, revokedSerials: [], revokedSpiffeIds: [], unrevokedSpiffeIds: [] }, clock.now()),
    'applied',
  );
  t.notOk(state.isStale(), 'a new event signed now does');
});

t.test('a lower CRL number is taken only with a new store epoch (a store begun anew on purpose)', async (t) => {
  const { state } = make();
  const delta = (crlNumber: number, storeEpoch?: string) => ({
    crlNumber,
    revokedSerials: [],
    revokedSpiffeIds: [],
    unrevokedSpiffeIds: [],
    ...(storeEpoch ? { storeEpoch } : {}),
  });
  state.replace({ crlNumber: 7, revokedSerials: ['0a', '0b'], revokedSpiffeIds: [], storeEpoch: 'epoch-1' });
  state.replace({ crlNumber: 3, revokedSerials: [], revokedSpiffeIds: [], storeEpoch: 'epoch-1' });
  t.equal(state.set.crlNumber, 7, 'the same epoch with a lower number (a restored backup) is refused');
  t.equal(state.set.isRevoked('0a', A), true);
  t.equal(state.applyDelta(delta(2, 'epoch-2'), 1_000_000), 'gap', "a new epoch's change asks for the full state");
  t.equal(state.set.crlNumber, 7, 'and changes nothing by itself');
  state.replace({ crlNumber: 1, revokedSerials: ['0c'], revokedSpiffeIds: [], storeEpoch: 'epoch-2' });
  t.equal(state.set.crlNumber, 1, "the new epoch's full state is taken although its number is lower");
  t.equal(state.set.isRevoked('0c', A), true);
  t.equal(state.set.isRevoked('0a', A), false, "the old store's list goes with it");
  t.equal(state.applyDelta(delta(2, 'epoch-2'), 1_000_000), 'applied', 'its changes follow in order');
  state.replace({ crlNumber: 7, revokedSerials: ['0a', '0b'], revokedSpiffeIds: [], storeEpoch: 'epoch-2' });
  t.equal(state.set.crlNumber, 7, 'higher numbers of the same epoch as before');
  state.replace({ crlNumber: 1, revokedSerials: [], revokedSpiffeIds: [] });
  t.equal(state.set.crlNumber, 7, 'a control plane that sends no epoch cannot reset anything');
});
