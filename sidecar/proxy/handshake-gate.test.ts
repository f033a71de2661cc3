import t from 'tap';
import { HandshakeGate, sourceKey } from './handshake-gate.ts';

t.test('sourceKey: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64', async (t) => {
  const cases: [string | undefined, string][] = [
    ['127.0.0.1', '127.0.0.1'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    [undefined, ''],
  ];
  for (const [address, key] of cases) t.equal(sourceKey(address), key, String(address));
});

t.test('slots: per-source and listener-wide caps, released once, forgotten at zero', async (t) => {
  const gate = new HandshakeGate({ maxPendingHandshakes: 3, maxPendingHandshakesPerSource: 2 });
  const a1 = gate.admit('10.0.0.1');
  const a2 = gate.admit('10.0.0.1');
  t.equal(gate.admit('10.0.0.1'), 'pending_handshakes_per_source');
  const b1 = gate.admit('10.0.0.2');
  t.equal(gate.admit('10.0.0.3'), 'pending_handshakes');
  t.equal(gate.pending, 3);
  if (typeof a1 === 'string' || typeof a2 === 'string' || typeof b1 === 'string') throw new Error('refused');
  a1.release();
  a1.release();
  t.equal(gate.pending, 2, 'a second release changes nothing');
  t.equal(gate.pendingFrom('10.0.0.1'), 1);
  const none = gate.whenNonePending();
  a2.release();
  b1.release();
  await none;
  t.equal(gate.pendingFrom('10.0.0.1'), 0);
  t.not(typeof gate.admit('10.0.0.3'), 'string', 'admitted again');
});
