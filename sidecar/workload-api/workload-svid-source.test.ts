import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import t from 'tap';
import { FakeClock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { silentLogger } from '../../common/logger.ts';
import { derToPem } from '../../common/trust-bundle.ts';
import { makeTestPki } from '../../test/fixtures/cert-factory.ts';
import type { TlsMaterial } from '../identity/credential-source.ts';
import { FakeIdentityApi } from '../identity/identity-test-kit.ts';
import { WorkloadSvidSource } from './workload-svid-source.ts';

const ID = 'spiffe://example.org/ns/prod/sa/web';
const pki = await makeTestPki('example.org');

async function harness() {
  const clock = new FakeClock(Date.now());
  const api = new FakeIdentityApi({ pki, clock, ttlMs: 3_600_000 });
  const proxy: TlsMaterial = {
    certChainPem: '',
    keyPem: '',
    bundlePem: pki.root.pem,
    spiffeId: ID,
    serial: '01',
    notAfter: clock.now() + 3_600_000,
  };
  const replaced: string[] = [];
  const source = new WorkloadSvidSource(
    { spiffeId: ID, trustDomain: 'example.org', keyType: 'ec-p256', backoffBaseMs: 1_000 },
    {
      api: {
        // The fake certifies the CSR as it does for an attestation (its scripted failures included).
        issueWorkloadSvid: async (_current, csr, replacesSerial) => {
          replaced.push(replacesSerial);
          const token = `token-${replaced.length}`;
          api.addToken(token);
          return api.attest(token, csr);
        },
      },
      proxy: () => proxy,
      clock,
      random: () => 0.5,
      logger: silentLogger(),
    },
  );
  return { clock, api, source, replaced };
}

t.test('each refresh: a new key, the previous serial named, listeners told', async (t) => {
  const { source, replaced } = await harness();
  const seen: (string | undefined)[] = [];
  source.onChange((s) => seen.push(s?.serial));
  t.equal(await source.refresh('start'), true);
  const first = source.current;
  if (!first) throw new Error('no workload SVID');
  const leaf = new X509Certificate(derToPem(first.chainDer[0] as Uint8Array));
  const key = createPrivateKey({ key: Buffer.from(first.keyPkcs8Der), format: 'der', type: 'pkcs8' });
  t.ok(leaf.checkPrivateKey(key), 'the PKCS#8 key is the certificate’s');
  t.equal(leaf.subjectAltName, `URI:${ID}`);
  t.notOk(Object.keys(first).includes('keyPkcs8Der'), 'the key is not enumerable (never printed or logged)');
  t.equal(await source.refresh('renewal'), true);
  const second = source.current;
  t.not(second?.serial, first.serial);
  t.not(
    createPublicKey(createPrivateKey({ key: Buffer.from(second?.keyPkcs8Der ?? []), format: 'der', type: 'pkcs8' }))
      .export({ format: 'der', type: 'spki' })
      .toString('hex'),
    createPublicKey(key).export({ format: 'der', type: 'spki' }).toString('hex'),
    'a new key every time',
  );
  t.same(replaced, ['', first.serial], 'the second names the first as the one it replaces');
  t.same(seen, [first.serial, second?.serial]);
});

t.test('a failure keeps the current SVID and retries after the backoff', async (t) => {
  const { clock, api, source } = await harness();
  await source.refresh('start');
  const current = source.current?.serial;
  api.script.push({ kind: 'error', error: new SigilError(ErrorCode.UNAVAILABLE, 'control plane down') });
  t.equal(await source.refresh('renewal'), false);
  t.equal(source.current?.serial, current, 'the current SVID stays');
  const renewed = new Promise<void>((resolve) => source.onChange(() => resolve()));
  await clock.waitForTimers();
  clock.advance(1_000);
  await renewed;
  t.not(source.current?.serial, current, 'the retry succeeded');
});

t.test('clear withdraws it and tells listeners; stop ends retries', async (t) => {
  const { source } = await harness();
  await source.refresh('start');
  const seen: unknown[] = [];
  source.onChange((s) => seen.push(s));
  source.clear('revoked');
  t.equal(source.current, undefined);
  t.same(seen, [undefined]);
  source.stop();
  t.equal(await source.refresh('after stop'), false);
});
