import t from 'tap';
import { inspect } from 'node:util';
import { FakeClock } from '../../common/clock.ts';
import { ErrorCode } from '../../common/errors.ts';
import { makeTestPki } from '../../test/fixtures/cert-factory.ts';
import { materialFor } from '../proxy/proxy-test-kit.ts';
import { resolveTlsSettings } from '../proxy/tls-settings.ts';
import { CredentialSource, describe, type Credentials } from './credential-source.ts';

const pki = await makeTestPki('example.org');
const ID = 'spiffe://example.org/ns/prod/sa/web';
const first = await materialFor(pki, ID);
const second = await materialFor(pki, ID);
const newSource = (clock = new FakeClock(Date.now())) =>
  new CredentialSource({ clientTls: resolveTlsSettings(), clock });

t.test('publishes updates and replays the current credentials to late subscribers', async (t) => {
  const source = newSource();
  const early: Credentials[] = [];
  source.subscribe((c) => early.push(c));
  t.equal(early.length, 0, 'nothing to replay yet');
  const published = source.update(first);
  t.equal(published.version, 1);
  const late: Credentials[] = [];
  const unsubscribe = source.subscribe((c) => late.push(c));
  t.equal(late[0], published, 'late subscriber gets the current value at once');
  source.update(second);
  t.same(
    early.map((c) => c.material.serial),
    [first.serial, second.serial],
  );
  t.same(
    late.map((c) => c.version),
    [1, 2],
  );
  unsubscribe();
  source.update(first);
  t.equal(late.length, 2, 'no calls after unsubscribe');
  t.equal(source.current?.version, 3);
});

t.test('builds the client context once per update and exposes server options', async (t) => {
  const source = newSource();
  const c = source.update(first);
  t.equal(source.clientContext, c.clientContext, 'same object on every read');
  t.equal(source.serverContextOptions.cert, first.certChainPem);
  t.equal(source.serverContextOptions.ca, first.bundlePem);
});

t.test('unusable material is refused and the previous credentials stay in force', async (t) => {
  const clock = new FakeClock(Date.now());
  const source = newSource(clock);
  const good = source.update(first);
  const cases = [
    { name: 'key of another certificate', material: { ...first, keyPem: second.keyPem }, code: ErrorCode.SVID_INVALID },
    { name: 'garbage chain', material: { ...first, certChainPem: 'not a pem' }, code: ErrorCode.SVID_INVALID },
    { name: 'empty bundle', material: { ...first, bundlePem: '' }, code: ErrorCode.SVID_INVALID },
    {
      name: 'bad SPIFFE ID',
      material: { ...first, spiffeId: 'https://example.org/x' },
      code: ErrorCode.SPIFFE_ID_INVALID,
    },
    { name: 'expired', material: { ...first, notAfter: clock.now() }, code: ErrorCode.SVID_EXPIRED },
  ];
  for (const c of cases) {
    t.throws(() => source.update(c.material), { code: c.code }, c.name);
    t.equal(source.current, good, `${c.name}: still the old credentials`);
  }
});

t.test('no subscriber failure keeps the others on old credentials', async (t) => {
  const source = newSource();
  const seen: number[] = [];
  source.subscribe(() => {
    throw new Error('broken consumer');
  });
  source.subscribe((c) => seen.push(c.version));
  source.update(first);
  t.same(seen, [1]);
});

t.test('clientContext before the first update fails with UNAVAILABLE', async (t) => {
  t.throws(() => newSource().clientContext, { code: ErrorCode.UNAVAILABLE });
});

t.test('material prints only spiffeId, serial and notAfter', async (t) => {
  const source = newSource();
  const { material } = source.update(first);
  const keyBody = first.keyPem.split('\n')[1] ?? 'unreachable';
  for (const [how, text] of [
    ['JSON', JSON.stringify(material)],
    ['inspect', inspect(material, { showHidden: false })],
    ['describe', JSON.stringify(describe(material))],
  ] as const) {
    t.notOk(text.includes(keyBody), `${how} has no key material`);
    t.notOk(text.includes('BEGIN'), `${how} has no PEM`);
    t.ok(text.includes(first.serial) && text.includes(ID), `${how} names the SVID`);
  }
  t.equal(material.keyPem, first.keyPem, 'the key is still readable by code');
  t.same(Object.keys(describe(material)).sort(), ['notAfter', 'serial', 'spiffeId']);
});
