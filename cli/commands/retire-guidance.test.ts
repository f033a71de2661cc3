import t from 'tap';
import { retireGuidance } from './retire-guidance.ts';

const T0 = Date.UTC(2026, 11, 3, 12);
const HOUR = 3_600_000;
const svid = {
  serial: 'ab12',
  spiffeId: 'spiffe://example.org/ns/a/sa/b',
  kind: 'svid',
  notBefore: T0 - 60_000,
  issuedAt: T0,
  notAfter: T0 + HOUR,
};

t.test('retire blockers: wait for a live one, revoke an orphan, restart for the serving certificate', async (t) => {
  const cases: [string, Parameters<typeof retireGuidance>[0], number, boolean, RegExp][] = [
    [
      'renewal not yet due',
      svid,
      T0 + 10 * 60_000,
      false,
      /^wait until 2026-12-03T12:37:00\.000Z .*sigil rotate --spiffe-id spiffe:\/\/example\.org\/ns\/a\/sa\/b/,
    ],
    ['silent past its renewal time', svid, T0 + 40 * 60_000, true, /^sigil revoke --serial ab12 --reason superseded$/],
    [
      'control plane serving certificate',
      { ...svid, kind: 'control-plane' },
      T0 + 40 * 60_000,
      true,
      /^restart the control plane/,
    ],
  ];
  for (const [name, blocker, now, orphaned, command] of cases) {
    const g = retireGuidance(blocker, now);
    t.equal(g.orphaned, orphaned, `${name}: orphaned`);
    t.match(g.clearedBy, command, `${name}: command`);
    t.equal(g.lastRenewal, new Date(T0).toISOString(), `${name}: last renewal`);
  }
});
