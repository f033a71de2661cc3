import 'reflect-metadata';
import t from 'tap';
import { ErrorCode } from '../../../common/errors.ts';
import { makeTestPki } from '../../../test/fixtures/cert-factory.ts';
import { DAY_MS } from '../../ca/templates.ts';
import { makeSigningKit, T0 } from '../signing-test-kit.ts';
import { revocationsFromCrls } from './crl-revocations.ts';

const kit = await makeSigningKit('crl-tests');
t.teardown(() => kit.close());
const NOW = T0 + 2 * DAY_MS;
const crl = (thisUpdate: number, nextUpdate: number) =>
  kit.ca.signCrl({
    crlNumber: 7,
    thisUpdate,
    nextUpdate,
    entries: [
      { serial: kit.signer.serial, revokedAt: NOW - 3_600_000, reasonCode: 1, invalidSince: NOW - 5 * 3_600_000 },
      { serial: kit.tsaSigner.serial, revokedAt: NOW - 3_600_000, reasonCode: 0 },
    ],
  });
const candidates = kit.signer.chainDer;

t.test("a current CRL from the signer's CA gives reasons and effective times", async (t) => {
  const view = await revocationsFromCrls(
    [{ der: await crl(NOW - DAY_MS, NOW + DAY_MS), source: 'crl.der' }],
    candidates,
    kit.roots,
    NOW,
  );
  t.same(
    view.entries.get(kit.signer.serial.replace(/^0+/, '')),
    {
      serial: kit.signer.serial.replace(/^0+/, ''),
      revokedAt: NOW - 3_600_000,
      effectiveAt: NOW - 5 * 3_600_000,
      reason: 'keyCompromise',
    },
    'the invalidity date is the effective time',
  );
  t.match(view.entries.get(kit.tsaSigner.serial.replace(/^0+/, '')), {
    reason: 'unspecified',
    effectiveAt: NOW - 3_600_000,
  });
  t.match(view.source, /crl\.der/);
});

t.test('CRLs a verifier must not trust are refused with the reason', async (t) => {
  const other = await makeTestPki('other.example');
  const current = await crl(NOW - DAY_MS, NOW + DAY_MS);
  const cases: Array<[string, () => Promise<unknown>, RegExp]> = [
    [
      'stale',
      async () =>
        revocationsFromCrls(
          [{ der: await crl(NOW - 3 * DAY_MS, NOW - DAY_MS), source: 'old' }],
          candidates,
          kit.roots,
          NOW,
        ),
      /old is stale/,
    ],
    [
      'not yet valid',
      async () =>
        revocationsFromCrls(
          [{ der: await crl(NOW + DAY_MS, NOW + 2 * DAY_MS), source: 'ahead' }],
          candidates,
          kit.roots,
          NOW,
        ),
      /not valid yet/,
    ],
    [
      'issuer not known',
      () => revocationsFromCrls([{ der: current, source: 'c' }], [], kit.roots, NOW),
      /--crl-issuer/,
    ],
    [
      'issuer not trusted',
      () => revocationsFromCrls([{ der: current, source: 'c' }], candidates, [other.root.der], NOW),
      /does not chain to the bundle/,
    ],
    [
      'not a CRL',
      () => revocationsFromCrls([{ der: new Uint8Array([1, 2]), source: 'junk' }], candidates, kit.roots, NOW),
      /junk is not a DER or PEM X.509 CRL/,
    ],
  ];
  for (const [name, run, message] of cases)
    await t.rejects(run(), { code: ErrorCode.SIGNATURE_INVALID, message }, name);
});
