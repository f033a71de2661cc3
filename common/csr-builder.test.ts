import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import t from 'tap';
import { makeCsr, type SigningKeyPair } from './csr-builder.ts';
import { ErrorCode } from './errors.ts';
import { parseSpiffeId } from './spiffe-id.ts';

const subtle = globalThis.crypto.subtle;
const ID = 'spiffe://example.org/ns/prod/sa/web';

const generators: Array<[string, () => Promise<SigningKeyPair>, string]> = [
  [
    'P-256',
    async () =>
      (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as SigningKeyPair,
    'SHA-256',
  ],
  [
    'P-384',
    async () =>
      (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify'])) as SigningKeyPair,
    'SHA-384',
  ],
  [
    'RSA-2048',
    async () =>
      (await subtle.generateKey(
        { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
        true,
        ['sign', 'verify'],
      )) as SigningKeyPair,
    'SHA-256',
  ],
];

t.test('builds a self-signed DER request with the SPIFFE ID as its only SAN', async (t) => {
  for (const [name, generate, hash] of generators) {
    const keys = await generate();
    const der = await makeCsr({ spiffeId: ID, keys });
    t.equal(der[0], 0x30, `${name}: DER SEQUENCE`);
    const request = new x509.Pkcs10CertificateRequest(der);
    t.ok(await request.verify(globalThis.crypto), `${name}: self-signature verifies`);
    t.equal(request.signatureAlgorithm.hash.name, hash, `${name}: hash follows the key`);
    t.equal(request.subject, '', `${name}: empty subject`);
    const san = request.getExtension('2.5.29.17');
    t.ok(san?.critical, `${name}: SAN critical (empty subject)`);
    const names = new x509.SubjectAlternativeNameExtension(san!.rawData).names.items.map((n) => [n.type, n.value]);
    t.same(names, [['url', ID]], `${name}: one URI SAN`);
    const spki = new Uint8Array(await subtle.exportKey('spki', keys.publicKey));
    t.same(new Uint8Array(request.publicKey.rawData), spki, `${name}: carries the public key`);
  }
});

t.test('takes a parsed SpiffeId too, and refuses invalid IDs and unsupported keys', async (t) => {
  const keys = await generators[0]![1]();
  const der = await makeCsr({ spiffeId: parseSpiffeId(ID), keys });
  t.ok(der.length > 0);
  await t.rejects(makeCsr({ spiffeId: 'spiffe://example.org/a/../b', keys }), { code: ErrorCode.SPIFFE_ID_INVALID });
  const ed = (await subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as unknown as SigningKeyPair;
  await t.rejects(makeCsr({ spiffeId: ID, keys: ed }), { code: ErrorCode.KEY_UNSUPPORTED });
});
