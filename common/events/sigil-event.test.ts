import t from 'tap';
import { sigil } from '../../proto/index.ts';
import { decodeEventPayload, encodeEventPayload, eventKindOf, type SigilEvent } from './sigil-event.ts';

const TD = 'example.org';

t.test('a revocation update round-trips on the revocation kind', async (t) => {
  const event: SigilEvent = {
    type: 'revocation.updated',
    crlNumber: 7,
    revokedSerials: ['0a1b'],
    revokedSpiffeIds: [`spiffe://${TD}/ns/a`],
    unrevokedSpiffeIds: [`spiffe://${TD}/ns/b`],
  };
  t.equal(eventKindOf(event), 'revocation');
  t.same(decodeEventPayload('revocation', encodeEventPayload(event)), { ok: true, event });
  const empty: SigilEvent = {
    type: 'revocation.updated',
    crlNumber: 8,
    revokedSerials: [],
    revokedSpiffeIds: [],
    unrevokedSpiffeIds: [],
  };
  t.same(
    decodeEventPayload('revocation', encodeEventPayload(empty)),
    { ok: true, event: empty },
    'an empty change is valid',
  );
});

t.test('malformed revocation updates are refused', async (t) => {
  const encode = (m: sigil.v1.IRevocationUpdate) => sigil.v1.RevocationUpdate.encode(m).finish();
  const cases: [string, Uint8Array][] = [
    ['not protobuf', Uint8Array.from([0xff, 0xff, 0xff])],
    ['CRL number 0', encode({ crlNumber: 0, revokedSerials: ['0a'] })],
    ['serial not hex', encode({ crlNumber: 1, revokedSerials: ['zz'] })],
    ['serial in upper case', encode({ crlNumber: 1, revokedSerials: ['0A'] })],
    ['revoked ID not a SPIFFE ID', encode({ crlNumber: 1, revokedSpiffeIds: ['https://example.org/x'] })],
    ['unrevoked ID not a SPIFFE ID', encode({ crlNumber: 1, unrevokedSpiffeIds: [''] })],
  ];
  for (const [name, payload] of cases)
    t.same(decodeEventPayload('revocation', payload), { ok: false, reason: 'malformed' }, name);
});

t.test('policy updates round-trip; an empty one is malformed', async (t) => {
  const policies = {
    version: 3,
    defaultAction: 'deny',
    policies: [
      {
        name: 'p',
        destination: 'spiffe://example.org/a',
        mode: 'enforce',
        allow: [{ from: 'spiffe://example.org/b', ports: [] }],
      },
    ],
  };
  const decoded = decodeEventPayload('policy', encodeEventPayload({ type: 'policy.updated', policies }));
  t.match(decoded, {
    ok: true,
    event: { type: 'policy.updated', policies: { version: 3, policies: [{ name: 'p' }] } },
  });
  t.same(decodeEventPayload('policy', new Uint8Array()), { ok: false, reason: 'malformed' });
});

t.test('rotation orders round-trip for each target kind; malformed ones are refused', async (t) => {
  const targets = [
    { kind: 'all' },
    { kind: 'spiffe-id', spiffeId: `spiffe://${TD}/ns/a` },
    { kind: 'prefix', prefix: `spiffe://${TD}/ns/prod/` },
  ] as const;
  for (const target of targets) {
    const event: SigilEvent = {
      type: 'rotate.ordered',
      orderId: 'ord-1',
      target,
      windowMs: 300_000,
      reason: 'operator',
      createdAt: Date.UTC(2026, 0, 1),
    };
    t.equal(eventKindOf(event), 'rotate');
    t.same(decodeEventPayload('rotate', encodeEventPayload(event)), { ok: true, event }, target.kind);
  }
  const encode = (m: sigil.v1.IRotationOrder) => sigil.v1.RotationOrder.encode(m).finish();
  const cases: [string, Uint8Array][] = [
    ['no creation time', encode({ orderId: 'a', all: true, windowMs: 1 })],
    ['no target', encode({ orderId: 'a', windowMs: 1, createdAtUnixMs: 1 })],
    ['two targets', encode({ orderId: 'a', all: true, spiffeId: `spiffe://${TD}/a`, createdAtUnixMs: 1 })],
    ['no order id', encode({ all: true, createdAtUnixMs: 1 })],
    ['order id with a space', encode({ orderId: 'a b', all: true, createdAtUnixMs: 1 })],
    ['prefix without trailing slash', encode({ orderId: 'a', prefix: `spiffe://${TD}/ns`, createdAtUnixMs: 1 })],
    ['target not a SPIFFE ID', encode({ orderId: 'a', spiffeId: 'https://x', createdAtUnixMs: 1 })],
    ['window over a week', encode({ orderId: 'a', all: true, windowMs: 8 * 24 * 3_600_000, createdAtUnixMs: 1 })],
  ];
  for (const [name, payload] of cases)
    t.same(decodeEventPayload('rotate', payload), { ok: false, reason: 'malformed' }, name);
});
