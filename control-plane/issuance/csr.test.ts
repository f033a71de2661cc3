import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import t from 'tap';
import { createHash, createPublicKey, generateKeyPairSync, type webcrypto } from 'node:crypto';
import { makeCsr } from '../../common/csr-builder.ts';
import { ErrorCode } from '../../common/errors.ts';
import { exportSpki, generateKeyPair } from '../../common/key-pair.ts';
import { mintCa } from '../ca/mint-ca.ts';
import { seededRandomBytes } from '../ca/seeded-random-bytes.ts';
import { canonicalSpki, checkCsr, parseCsr } from './csr.ts';

const TD = 'example.org';
const ID = `spiffe://${TD}/ns/prod/sa/api`;
const subtle = globalThis.crypto.subtle;
type Pair = webcrypto.CryptoKeyPair;

interface RawCsrOptions {
  readonly keys: Pair;
  readonly names?: { type: 'url' | 'dns'; value: string }[];
  readonly signingAlgorithm?: object;
}

/** A CSR built without makeCsr's guard rails, to produce what a hostile or broken client could send. */
async function rawCsr(options: RawCsrOptions): Promise<Uint8Array> {
  const names = options.names ?? [{ type: 'url', value: ID }];
  const request = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      keys: options.keys,
      signingAlgorithm: (options.signingAlgorithm ?? { name: 'ECDSA', hash: 'SHA-256' }) as { name: string },
      ...(names.length > 0 ? { extensions: [new x509.SubjectAlternativeNameExtension(names)] } : {}),
    },
    globalThis.crypto,
  );
  return new Uint8Array(request.rawData);
}

async function nodePair(type: 'rsa' | 'ec', options: { modulusLength?: number; namedCurve?: string }): Promise<Pair> {
  const pair =
    type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: options.modulusLength ?? 2048 })
      : generateKeyPairSync('ec', { namedCurve: options.namedCurve ?? 'P-256' });
  const algorithm =
    type === 'rsa'
      ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
      : { name: 'ECDSA', namedCurve: options.namedCurve ?? 'P-256' };
  return {
    publicKey: pair.publicKey.toCryptoKey(algorithm, true, ['verify']),
    privateKey: pair.privateKey.toCryptoKey(algorithm, true, ['sign']),
  };
}

function tamper(der: Uint8Array, index: number): Uint8Array {
  const copy = Uint8Array.from(der);
  copy[index] = copy[index]! ^ 0x01;
  return copy;
}

t.test('accepts what makeCsr builds, for every allowed key type', async (t) => {
  for (const keyType of ['ec-p256', 'ec-p384', 'rsa-2048'] as const) {
    const keys = await generateKeyPair(keyType);
    const parsed = await checkCsr(await makeCsr({ spiffeId: ID, keys }), { trustDomain: TD });
    t.equal(parsed.spiffeId.uri, ID, `${keyType}: ID`);
    t.equal(parsed.keyType, keyType, `${keyType}: key type`);
    t.equal(
      parsed.publicKeySha256,
      createHash('sha256')
        .update(await exportSpki(keys.publicKey))
        .digest('hex'),
      `${keyType}: key hash`,
    );
  }
});

t.test('the parsed key and hash match the certificate the CA then issues', async (t) => {
  const { ca } = await mintCa({ trustDomain: TD, keyType: 'ec-p256', now: Date.UTC(2026, 0, 1) });
  const parsed = await checkCsr(await makeCsr({ spiffeId: ID, keys: await generateKeyPair('ec-p384') }), {
    trustDomain: TD,
  });
  const issued = await ca.issueLeaf({
    spiffeId: parsed.spiffeId,
    publicKey: parsed.publicKey,
    now: Date.UTC(2026, 0, 1),
  });
  t.equal(issued.publicKeySha256, parsed.publicKeySha256);
  t.equal(issued.keyType, 'ec-p384');
});

t.test('refuses every bad CSR with its own code', async (t) => {
  const p256 = await generateKeyPair('ec-p256');
  const good = await makeCsr({ spiffeId: ID, keys: p256 });
  const ed25519 = (await subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as unknown as Pair;
  const cases: Array<[string, () => Promise<Uint8Array>, string, RegExp?]> = [
    [
      'random bytes',
      async () => seededRandomBytes('junk')(200),
      ErrorCode.CSR_MALFORMED,
      /^the CSR is not a DER PKCS#10 request/,
    ],
    ['empty', async () => new Uint8Array(0), ErrorCode.CSR_MALFORMED],
    [
      'PEM instead of DER',
      async () => new TextEncoder().encode(new x509.Pkcs10CertificateRequest(good).toString('pem')),
      ErrorCode.CSR_MALFORMED,
    ],
    ['truncated', async () => good.subarray(0, good.length - 10), ErrorCode.CSR_MALFORMED],
    [
      'tampered signature',
      async () => tamper(good, good.length - 1),
      ErrorCode.CSR_SIGNATURE,
      /signature does not verify/,
    ],
    [
      'tampered SPIFFE ID',
      async () => {
        const at = Buffer.from(good).indexOf(Buffer.from('sa/api'));
        return tamper(good, at + 5);
      },
      ErrorCode.CSR_SIGNATURE,
    ],
    [
      'zero URI SANs',
      () => rawCsr({ keys: p256, names: [] }),
      ErrorCode.CSR_URI_SAN_COUNT,
      /exactly one URI SAN \(the SPIFFE ID\), but 0 were found/,
    ],
    [
      'DNS SAN only',
      () => rawCsr({ keys: p256, names: [{ type: 'dns', value: 'api.example.org' }] }),
      ErrorCode.CSR_URI_SAN_COUNT,
      /but 0 were found/,
    ],
    [
      'two URI SANs',
      () =>
        rawCsr({
          keys: p256,
          names: [
            { type: 'url', value: ID },
            { type: 'url', value: `${ID}2` },
          ],
        }),
      ErrorCode.CSR_URI_SAN_COUNT,
      /but 2 were found/,
    ],
    [
      'trust-domain ID',
      () => rawCsr({ keys: p256, names: [{ type: 'url', value: `spiffe://${TD}` }] }),
      ErrorCode.SPIFFE_ID_INVALID,
      /needs a path/,
    ],
    [
      'not spiffe://',
      () => rawCsr({ keys: p256, names: [{ type: 'url', value: `https://${TD}/a` }] }),
      ErrorCode.SPIFFE_ID_INVALID,
    ],
    [
      'dot segment',
      () => rawCsr({ keys: p256, names: [{ type: 'url', value: `spiffe://${TD}/a/../b` }] }),
      ErrorCode.SPIFFE_ID_INVALID,
    ],
    [
      'uppercase trust domain',
      () => rawCsr({ keys: p256, names: [{ type: 'url', value: 'spiffe://Example.org/a' }] }),
      ErrorCode.SPIFFE_ID_INVALID,
    ],
    [
      'trailing slash',
      () => rawCsr({ keys: p256, names: [{ type: 'url', value: `spiffe://${TD}/a/` }] }),
      ErrorCode.SPIFFE_ID_INVALID,
    ],
    [
      'other trust domain',
      () => rawCsr({ keys: p256, names: [{ type: 'url', value: 'spiffe://other.org/a' }] }),
      ErrorCode.SPIFFE_ID_TRUST_DOMAIN,
    ],
    [
      'RSA-1024',
      async () =>
        rawCsr({
          keys: await nodePair('rsa', { modulusLength: 1024 }),
          signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5' },
        }),
      ErrorCode.KEY_TOO_WEAK,
    ],
    [
      'P-521',
      async () =>
        rawCsr({
          keys: await nodePair('ec', { namedCurve: 'P-521' }),
          signingAlgorithm: { name: 'ECDSA', hash: 'SHA-512' },
        }),
      ErrorCode.KEY_UNSUPPORTED,
    ],
    ['Ed25519', () => rawCsr({ keys: ed25519, signingAlgorithm: { name: 'Ed25519' } }), ErrorCode.KEY_UNSUPPORTED],
    [
      'SHA-1 signature',
      () => rawCsr({ keys: p256, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-1' } }),
      ErrorCode.SIGNATURE_WEAK,
      /SHA-256 or stronger/,
    ],
    [
      'weak key and bad signature: the key is reported',
      async () => {
        const csr = await rawCsr({
          keys: await nodePair('rsa', { modulusLength: 1024 }),
          signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5' },
        });
        return tamper(csr, csr.length - 1);
      },
      ErrorCode.KEY_TOO_WEAK,
    ],
  ];
  for (const [name, make, code, message] of cases) {
    const der = await make();
    const err = await checkCsr(der, { trustDomain: TD }).then(
      () => ({ code: 'accepted', message: '' }),
      (e: { code: string; message: string }) => e,
    );
    t.equal(err.code, code, name);
    if (message) t.match(err.message, message, `${name}: message`);
  }
});

t.test('parseCsr runs every rule but the trust-domain one', async (t) => {
  const keys = await generateKeyPair('ec-p256');
  const foreign = await rawCsr({ keys, names: [{ type: 'url', value: 'spiffe://other.org/a' }] });
  t.equal((await parseCsr(foreign)).spiffeId.trustDomain, 'other.org');
  const good = await makeCsr({ spiffeId: ID, keys });
  await t.rejects(parseCsr(tamper(good, good.length - 1)), { code: ErrorCode.CSR_SIGNATURE });
  await t.rejects(parseCsr(await rawCsr({ keys, names: [] })), { code: ErrorCode.CSR_URI_SAN_COUNT });
});

t.test('canonicalSpki: the SPKI as Node exports it, taken as sent only when it is the uncompressed form', async (t) => {
  for (const [keyType, namedCurve] of [
    ['ec-p256', 'P-256'],
    ['ec-p384', 'P-384'],
  ] as const) {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve });
    const exported = publicKey.export({ type: 'spki', format: 'der' });
    t.same(Buffer.from(canonicalSpki(exported, keyType, publicKey)), exported, `${keyType}: uncompressed, as sent`);
    // The same key with its point compressed: not the fast path's form, so it is whatever Node exports.
    const jwk = publicKey.export({ format: 'jwk' });
    const x = Buffer.from(jwk.x as string, 'base64url');
    const y = Buffer.from(jwk.y as string, 'base64url');
    const oids =
      keyType === 'ec-p256' ? '301306072a8648ce3d020106082a8648ce3d030107' : '301006072a8648ce3d020106052b81040022';
    const bits = Buffer.concat([Buffer.of(0x00, (y.at(-1)! & 1) === 0 ? 0x02 : 0x03), x]);
    const body = Buffer.concat([Buffer.from(oids, 'hex'), Buffer.of(0x03, bits.length), bits]);
    const compressed = Buffer.concat([Buffer.of(0x30, body.length), body]);
    const key = createPublicKey({ key: compressed, format: 'der', type: 'spki' });
    t.same(
      Buffer.from(canonicalSpki(compressed, keyType, key)),
      key.export({ type: 'spki', format: 'der' }),
      `${keyType}: compressed, re-exported`,
    );
  }
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
  const rsaSpki = rsa.export({ type: 'spki', format: 'der' });
  t.same(Buffer.from(canonicalSpki(rsaSpki, 'rsa-2048', rsa)), rsaSpki, 'RSA: re-exported');
});
