import 'reflect-metadata';
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode } from '../../common/errors.ts';
import { generateKeyPair } from '../../common/key-pair.ts';
import { DAY_MS } from '../ca/templates.ts';
import { decodeSignature, timestampTokenOf } from './cms-signature.ts';
import { assertCanSign, signDigest, tsaTimestamper } from './sign-artifact.ts';
import { loadSigningKeyFile } from './signing-key.ts';
import { makeSigningKit, T0 } from './signing-test-kit.ts';
import { digestOf } from './timestamp-token.ts';

const kit = await makeSigningKit('sign-tests');
t.teardown(() => kit.close());

t.test('signing is refused with an unfit certificate, before anything is signed', async (t) => {
  const keys = await generateKeyPair('ec-p256');
  const svid = await kit.ca.issueLeaf({
    spiffeId: 'spiffe://example.org/api',
    publicKey: keys.publicKey,
    ttlMs: DAY_MS,
    now: T0,
  });
  const cases: Array<[string, () => unknown, string, RegExp]> = [
    [
      'expired certificate',
      () => assertCanSign(kit.signer, T0 + 31 * DAY_MS),
      ErrorCode.SIGNING_CERT,
      /expired at .*sigil signing cert/,
    ],
    [
      'certificate not yet valid',
      () => assertCanSign(kit.signer, T0 - DAY_MS),
      ErrorCode.SIGNING_CERT,
      /not valid before/,
    ],
    [
      'an SVID',
      () => assertCanSign({ chainDer: [svid.der], key: kit.signer.key }, T0),
      ErrorCode.SIGNING_CERT,
      /not a code-signing certificate \(it has serverAuth, clientAuth/,
    ],
    [
      "another certificate's key",
      () => assertCanSign({ chainDer: kit.signer.chainDer, key: kit.tsaSigner.key }, T0),
      ErrorCode.SIGNING_KEY,
      /does not belong/,
    ],
    [
      'no certificate',
      () => assertCanSign({ chainDer: [], key: kit.signer.key }, T0),
      ErrorCode.SIGNING_CERT,
      /no certificate/,
    ],
  ];
  for (const [name, run, code, message] of cases) t.throws(run, { code, message }, name);
  t.equal(assertCanSign(kit.signer, T0 + DAY_MS).subject, 'CN=release-pipeline, O=Acme', 'a fit certificate passes');
});

t.test('a TSA that is down leaves the signature written, untimestamped, with the reason', async (t) => {
  const signed = await signDigest(kit.signer, digestOf('SHA-256', new Uint8Array([1])), {
    now: T0 + DAY_MS,
    format: 'der',
    timestamper: tsaTimestamper({ url: 'http://127.0.0.1:9/', timeoutMs: 2000 }),
  });
  t.ok(signed.signature.length > 0, 'the signature exists');
  t.equal(signed.timestamp, undefined);
  t.equal(signed.timestampError?.code, ErrorCode.TSA_UNAVAILABLE);
  t.match(signed.timestampError?.message, /unreachable \(ECONNREFUSED\)/);
  t.equal(timestampTokenOf(decodeSignature(signed.signature)), undefined, 'no token embedded');
});

t.test('key files: 0600 or encrypted, and the right passphrase', async (t) => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const plain = join(kit.dir, 'plain.key');
  const sealed = join(kit.dir, 'sealed.key');
  await writeFile(plain, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o644 });
  await writeFile(
    sealed,
    privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'right' }),
    { mode: 0o600 },
  );
  await t.rejects(loadSigningKeyFile(plain), {
    code: ErrorCode.SIGNING_KEY,
    message: /readable by others \(mode 644\): chmod 600/,
  });
  await chmod(plain, 0o600);
  t.equal((await loadSigningKeyFile(plain)).keyType, 'ec-p256', 'a 0600 key loads');
  await t.rejects(loadSigningKeyFile(sealed), {
    code: ErrorCode.SIGNING_KEY,
    message: /encrypted: set SIGIL_SIGNING_KEY_PASSPHRASE/,
  });
  await t.rejects(loadSigningKeyFile(sealed, { passphrase: 'wrong' }), {
    code: ErrorCode.SIGNING_KEY,
    message: /does not decrypt/,
  });
  t.equal((await loadSigningKeyFile(sealed, { passphrase: 'right' })).keyType, 'ec-p256', 'the passphrase opens it');
  // Issue 21 item 13: a garbled encrypted key is damaged, not a wrong passphrase.
  const garbled = join(kit.dir, 'garbled.key');
  const pem = readFileSync(sealed, 'utf8').split('\n');
  pem[3] = (pem[3] ?? '').replace(/[A-Za-z]/g, (c) => (c === 'A' ? 'B' : 'A'));
  writeFileSync(garbled, pem.join('\n'), { mode: 0o600 });
  await t.rejects(loadSigningKeyFile(garbled, { passphrase: 'right' }), {
    code: ErrorCode.SIGNING_KEY,
    message: /is damaged: .*restore it from a backup/,
  });
  const key = await loadSigningKeyFile(sealed, { passphrase: 'right' });
  t.notMatch(JSON.stringify(key), /PRIVATE|BEGIN/, 'a loaded key prints no key material');
  await t.rejects(loadSigningKeyFile(join(kit.dir, 'missing.key')), { code: ErrorCode.SIGNING_KEY, message: /ENOENT/ });
});
