import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { ErrorCode } from './errors.ts';
import { KEY_TYPES } from './key-type.ts';
import {
  exportSpki,
  generateKeyPair,
  importPublicKey,
  keyTypeOfSpki,
  publicKeyFacts,
  signingAlgorithm,
  spkiSha256,
} from './key-pair.ts';

/** SPKIs of keys WebCrypto will not generate for us (RSA-1024) or the policy refuses. */
function spkiOf(type: 'ec' | 'rsa' | 'ed25519', options: { namedCurve?: string; modulusLength?: number }): Uint8Array {
  const pair =
    type === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: options.namedCurve ?? 'P-256' })
      : type === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: options.modulusLength ?? 2048 })
        : generateKeyPairSync('ed25519');
  return new Uint8Array(pair.publicKey.export({ format: 'der', type: 'spki' }));
}

t.test('generates an extractable signing pair for every key type, classified back to that type', async (t) => {
  for (const type of KEY_TYPES) {
    const keys = await generateKeyPair(type);
    t.equal(keys.privateKey.extractable, true, `${type} private key extractable`);
    t.same([...keys.privateKey.usages], ['sign'], `${type} usages`);
    const spki = await exportSpki(keys.publicKey);
    t.equal(keyTypeOfSpki(spki), type, `${type} classified`);
    const imported = await importPublicKey(spki, type);
    t.equal(spkiSha256(await exportSpki(imported)), spkiSha256(spki), `${type} import keeps the SPKI`);
  }
});

t.test('signing algorithm follows the key type', async (t) => {
  const cases = [
    ['ec-p256', { name: 'ECDSA', hash: 'SHA-256' }],
    ['ec-p384', { name: 'ECDSA', hash: 'SHA-384' }],
    ['rsa-2048', { name: 'RSASSA-PKCS1-v1_5' }],
    ['rsa-3072', { name: 'RSASSA-PKCS1-v1_5' }],
    ['rsa-4096', { name: 'RSASSA-PKCS1-v1_5' }],
  ] as const;
  for (const [type, expected] of cases) t.same(signingAlgorithm(type), expected, type);
});

t.test('publicKeyFacts reduces keys the policy refuses', async (t) => {
  t.same(publicKeyFacts(spkiOf('ec', { namedCurve: 'P-521' })), { kind: 'ec', namedCurve: 'P-521' });
  t.same(publicKeyFacts(spkiOf('rsa', { modulusLength: 1024 })), { kind: 'rsa', modulusBits: 1024 });
  t.same(publicKeyFacts(spkiOf('ed25519', {})), { kind: 'other', algorithm: 'ed25519' });
  t.same(publicKeyFacts(new Uint8Array([1, 2, 3])), { kind: 'other', algorithm: 'unrecognised' });
  t.throws(() => keyTypeOfSpki(spkiOf('rsa', { modulusLength: 1024 })), { code: ErrorCode.KEY_TOO_WEAK });
  t.throws(() => keyTypeOfSpki(spkiOf('ec', { namedCurve: 'P-521' })), { code: ErrorCode.KEY_UNSUPPORTED });
  t.throws(() => keyTypeOfSpki(spkiOf('ed25519', {})), { code: ErrorCode.KEY_UNSUPPORTED });
});
