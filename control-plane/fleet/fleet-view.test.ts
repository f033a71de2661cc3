import t from 'tap';
import { FakeClock } from '../../common/clock.ts';
import { ErrorCode } from '../../common/errors.ts';
import { silentLogger } from '../../common/logger.ts';
import type { SidecarContact, SidecarContactRecord } from '../store/store.ts';
import { FleetView, sidecarRecordOf } from './fleet-view.ts';
import { SidecarContacts } from './sidecar-contacts.ts';

const T0 = Date.UTC(2026, 0, 1);
const API = 'spiffe://example.org/ns/prod/sa/api';
const CURRENT = { bundleSequence: 3, crlNumber: 10, policyVersion: 2 };

const record = (overrides: Partial<SidecarContactRecord> = {}): SidecarContactRecord => ({
  instanceId: 'i-1',
  spiffeId: API,
  sidecarVersion: '0.1.0',
  svidSerial: 'aa',
  svidNotAfter: T0 + 3_600_000,
  firstSeen: T0,
  lastTrustFetchAt: T0 + 60_000,
  lastRenewalAt: null,
  bundleSequence: 3,
  crlNumber: 10,
  policyVersion: 2,
  ...overrides,
});

t.test('staleness: the latest contact against the threshold', async (t) => {
  const cases: [string, Partial<SidecarContactRecord>, number, boolean][] = [
    ['fetched just now', {}, T0 + 60_000, false],
    ['exactly at the threshold', {}, T0 + 60_000 + 300_000, false],
    ['1 ms past it', {}, T0 + 60_000 + 300_001, true],
    ['a later renewal counts', { lastRenewalAt: T0 + 400_000 }, T0 + 500_000, false],
    ['never fetched: first contact counts', { lastTrustFetchAt: null }, T0 + 300_001, true],
  ];
  for (const [name, overrides, now, stale] of cases) {
    t.equal(sidecarRecordOf(record(overrides), CURRENT, now, 300_000).stale, stale, name);
  }
});

t.test('currency: each version against what is served now', async (t) => {
  const cases: [string, Partial<SidecarContactRecord>, [boolean, boolean, boolean]][] = [
    ['all current', {}, [true, true, true]],
    ['old CRL', { crlNumber: 9 }, [true, false, true]],
    ['old bundle and policy', { bundleSequence: 2, policyVersion: 1 }, [false, true, false]],
    ['not reported', { bundleSequence: null, crlNumber: null, policyVersion: null }, [false, false, false]],
  ];
  for (const [name, overrides, [bundle, crl, policy]] of cases) {
    const r = sidecarRecordOf(record(overrides), CURRENT, T0, 300_000);
    t.same([r.bundleCurrent, r.crlCurrent, r.policyCurrent], [bundle, crl, policy], name);
  }
  t.equal(sidecarRecordOf(record({ crlNumber: null }), CURRENT, T0, 1).versionsKnown, false);
});

t.test('FleetView lists with the default threshold, an injected now, and refuses a bad one', async (t) => {
  const clock = new FakeClock(T0 + 60_000);
  const view = new FleetView({
    store: { listSidecarContacts: async () => [record()] },
    clock,
    current: () => CURRENT,
  });
  t.equal((await view.list())[0]?.stale, false);
  clock.advance(300_001);
  t.equal((await view.list())[0]?.stale, true, 'the clock moved past 5 minutes');
  t.equal((await view.list({ staleAfterMs: 3_600_000 }))[0]?.stale, false);
  t.equal((await view.list({ now: new Date(T0) }))[0]?.stale, false);
  await t.rejects(view.list({ staleAfterMs: 0 }), { code: ErrorCode.INVALID_ARGUMENT });
});

t.test('SidecarContacts: instance ids, old sidecars followed by serial, store errors swallowed', async (t) => {
  const written: SidecarContact[] = [];
  const bySerial = new Map<string, string>();
  let fail = false;
  const contacts = new SidecarContacts({
    store: {
      recordSidecarContact: async (c) => {
        if (fail) throw new Error('disk full');
        written.push(c);
        bySerial.set(c.svidSerial, c.instanceId);
      },
      findSidecarBySerial: async (serial) => {
        const instanceId = bySerial.get(serial);
        return instanceId ? record({ instanceId, svidSerial: serial }) : undefined;
      },
    },
    clock: new FakeClock(T0),
    logger: silentLogger(),
  });
  const base = { spiffeId: API, svidNotAfter: T0 + 1 } as const;
  await contacts.record({
    ...base,
    kind: 'renewal',
    svidSerial: 's1',
    report: { instanceId: 'uuid-1', sidecarVersion: '0.1.0' },
  });
  t.equal(written[0]?.instanceId, 'uuid-1');
  t.equal(written[0]?.sidecarVersion, '0.1.0');
  // An old sidecar: no report. Its first SVID names it; its renewal follows it.
  await contacts.record({ ...base, kind: 'renewal', svidSerial: 'o1' });
  await contacts.record({ ...base, kind: 'renewal', svidSerial: 'o2', previousSerial: 'o1' });
  await contacts.record({ ...base, kind: 'trust-fetch', svidSerial: 'o2' });
  t.same(
    written.slice(1).map((c) => c.instanceId),
    ['svid:o1', 'svid:o1', 'svid:o1'],
  );
  await contacts.record({
    ...base,
    kind: 'trust-fetch',
    svidSerial: 's1',
    report: {
      instanceId: 'bad id with spaces',
      sidecarVersion: 'v1\nforged',
      versions: { bundleSequence: 1, crlNumber: 1, policyVersion: 1 },
    },
    served: { bundleSequence: 3, crlNumber: 10, policyVersion: 2 },
  });
  const last = written.at(-1);
  t.equal(last?.instanceId, 'uuid-1', 'a malformed instance id falls back to the lineage');
  t.equal(last?.sidecarVersion, undefined, 'a malformed version is not recorded');
  t.equal(last?.crlNumber, 10, 'served versions win over reported ones on a fetch');
  const before = written.length;
  await contacts.record({
    ...base,
    spiffeId: 'spiffe://example.org/sigil/admin/ops',
    kind: 'trust-fetch',
    svidSerial: 'x',
  });
  t.equal(written.length, before, "an admin's fetch is no sidecar");
  fail = true;
  await t.resolves(contacts.record({ ...base, kind: 'trust-fetch', svidSerial: 's1' }), 'never throws');
});
