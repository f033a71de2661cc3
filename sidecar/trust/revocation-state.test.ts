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
    state.applyDelta({ crlNumber: 6, revokedSerials: [], revokedSpiffeIds: [A], unrevokedSpiffeIds: [] }),
    'applied',
  );
  t.same(state.authorize('0b', A), { allowed: false, reason: 'revoked' });
  t.equal(
    state.applyDelta({ crlNumber: 8, revokedSerials: ['ff'], revokedSpiffeIds: [], unrevokedSpiffeIds: [] }),
    'gap',
  );
  t.same(state.authorize('ff', 'spiffe://td/ns/b'), { allowed: true }, 'a gapped delta is not applied');
  t.equal(
    state.applyDelta({ crlNumber: 6, revokedSerials: [], revokedSpiffeIds: [], unrevokedSpiffeIds: [] }),
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
