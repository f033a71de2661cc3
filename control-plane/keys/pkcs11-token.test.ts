import t from 'tap';
import { createPublicKey, verify } from 'node:crypto';
import { ErrorCode } from '../../common/errors.ts';
import { pkcs11Tool, startSoftHsm } from '../../test/fixtures/softhsm.ts';
import { Pkcs11Token } from './pkcs11-token.ts';

const PIN = '246810';

async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  return promise.then(
    () => ({ code: 'resolved', message: '' }),
    (e: { code: string; message: string }) => e,
  );
}

t.test('PKCS#11 token (SoftHSM2)', async (t) => {
  const hsm = await startSoftHsm(t);
  const label = await hsm.initToken('sigil-keys', PIN);
  const open = (pin = PIN, tokenLabel = label) => Pkcs11Token.open({ modulePath: hsm.modulePath, tokenLabel, pin });

  t.test('generates keys in the token that sign verifiably and can never leave it', async (t) => {
    const token = await open();
    t.teardown(() => token.close());
    for (const [keyType, digest] of [
      ['ec-p256', 'SHA-256'],
      ['ec-p384', 'SHA-384'],
      ['rsa-2048', 'SHA-256'],
    ] as const) {
      const { ref, key } = await token.generateKeyPair(keyType, `test-${keyType}`);
      t.equal(key.keyType, keyType);
      t.match(ref, { label: `test-${keyType}`, id: /^[0-9a-f]{32}$/ });
      const data = Buffer.from(`signed by ${keyType}`);
      const publicKey = createPublicKey({ key: Buffer.from(key.publicKeySpki), format: 'der', type: 'spki' });
      const der = await key.sign(data, digest);
      t.ok(verify(digest.replace('-', '').toLowerCase(), data, publicKey, der), `${keyType} DER signature verifies`);
      if (keyType.startsWith('ec-')) {
        const raw = await key.sign(data, digest, 'ieee-p1363');
        t.ok(verify(digest, data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, raw), `${keyType} r‖s verifies`);
      }
      const reopened = await token.openKey({ id: ref.id });
      t.same(reopened.publicKeySpki, key.publicKeySpki, 'found again by id');
    }
    const privateKeys = (await token.listObjects()).filter((o) => o.class === 'private');
    t.equal(privateKeys.length, 3);
    for (const key of privateKeys) {
      t.match(key, { sensitive: true, extractable: false, alwaysSensitive: true, neverExtractable: true }, key.label);
    }
  });

  t.test('signs concurrently through its session pool', async (t) => {
    const token = await Pkcs11Token.open({ modulePath: hsm.modulePath, tokenLabel: label, pin: PIN, maxSessions: 3 });
    t.teardown(() => token.close());
    const { key } = await token.generateKeyPair('ec-p256', 'pool');
    const publicKey = createPublicKey({ key: Buffer.from(key.publicKeySpki), format: 'der', type: 'spki' });
    const data = Array.from({ length: 40 }, (_, i) => Buffer.from(`message ${i}`));
    const signatures = await Promise.all(data.map((d) => key.sign(d, 'SHA-256')));
    t.ok(signatures.every((s, i) => verify('sha256', data[i]!, publicKey, s)));
    // Thousands of signatures on the thread pool, with garbage made meanwhile: the library must be initialised for
    // threads and the binding's buffers kept alive (both crashed this process before they were).
    let bad = 0;
    const worker = async (w: number) => {
      for (let i = 0; i < 1500; i++) {
        const message = Buffer.from(`worker ${w} message ${i} ${'x'.repeat(i % 300)}`);
        if (!verify('sha256', message, publicKey, await key.sign(message, 'SHA-256'))) bad++;
        if (i % 50 === 0) Array.from({ length: 10_000 }, (_, j) => ({ j, s: `garbage ${j}` }));
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    t.equal(bad, 0, '12000 concurrent signatures all verify');
  });

  t.test('a wrong PIN is a clear error, tried once, and leaves the token usable', async (t) => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const err = await failure(open('000000'));
      t.equal(err.code, ErrorCode.PKCS11_PIN);
      t.match(err.message, /PIN is wrong.*will not retry/);
      t.notMatch(err.message, /000000/, 'the PIN is not echoed');
    }
    const flags = await pkcs11Tool(hsm, ['--token-label', label, '--list-token-slots']);
    t.notMatch(flags, /locked/i, 'the token is not locked');
    const token = await open();
    await token.close();
  });

  t.test('an absent token, a missing PIN, a missing key, a non-PKCS#11 library: each a clear error', async (t) => {
    const absent = await failure(open(PIN, 'not-plugged-in'));
    t.equal(absent.code, ErrorCode.PKCS11_TOKEN);
    t.match(absent.message, /no PKCS#11 token labelled "not-plugged-in".*sigil-keys/);
    t.equal((await failure(open(''))).code, ErrorCode.PKCS11_PIN);
    const notModule = await failure(Pkcs11Token.open({ modulePath: '/etc/hostname', tokenLabel: label, pin: PIN }));
    t.equal(notModule.code, ErrorCode.PKCS11_MODULE);
    const token = await open();
    t.teardown(() => token.close());
    const missing = await failure(token.openKey({ label: 'no-such-key' }));
    t.equal(missing.code, ErrorCode.PKCS11_KEY);
    t.match(missing.message, /no private key with label "no-such-key"/);
  });

  t.test('a key of a type Sigil does not sign with is refused', async (t) => {
    await pkcs11Tool(hsm, [
      ...['--token-label', label, '--login', '--pin', PIN],
      ...['--keypairgen', '--key-type', 'EC:secp521r1', '--label', 'p521', '--id', '5210'],
    ]);
    const token = await open();
    t.teardown(() => token.close());
    const err = await failure(token.openKey({ label: 'p521' }));
    t.equal(err.code, ErrorCode.PKCS11_KEY);
    t.match(err.message, /type Sigil does not sign with|cannot use/);
  });
});
