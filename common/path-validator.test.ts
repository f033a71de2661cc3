import t from 'tap';
import { ErrorCode, isSigilError } from './errors.ts';
import { validatePath } from './path-validator.ts';
import type { PathValidationInput } from './path-validator.ts';
import { EKU_OIDS } from './x509-facts.ts';
import { makeCert, makeTestPki } from '../test/fixtures/cert-factory.ts';
import type { CertSpec } from '../test/fixtures/cert-factory.ts';

const pki = await makeTestPki('example.org');
const other = await makeTestPki('example.org');
const NOW = Date.now();
const HOUR = 3_600_000;
const ID = 'spiffe://example.org/a';

function reasonOf(input: PathValidationInput): string {
  try {
    validatePath(input);
    return 'ok';
  } catch (err) {
    if (isSigilError(err, ErrorCode.SVID_UNTRUSTED)) return String(err.details.reason);
    throw err;
  }
}

const ca = (spec: CertSpec) =>
  makeCert({
    isCa: true,
    pathLen: 0,
    keyUsage: ['keyCertSign', 'cRLSign'],
    issuer: pki.root,
    subject: 'CN=alt ca',
    ...spec,
  });

t.test('a conformant SVID chain validates, leaf first and root last', async (t) => {
  const svid = await pki.issueSvid(ID);
  const res = validatePath({
    leaf: svid.der,
    intermediates: [pki.intermediate.der],
    roots: [pki.root.der],
    now: NOW,
    requiredEku: EKU_OIDS.clientAuth,
  });
  t.same(
    res.chain.map((f) => f.serial),
    [svid.serial, pki.intermediate.serial, pki.root.serial],
  );
});

t.test('broken chains are refused with their reason', async (t) => {
  const svid = await pki.issueSvid(ID);
  const base = { leaf: svid.der, intermediates: [pki.intermediate.der], roots: [pki.root.der], now: NOW };
  const notCa = await ca({ isCa: false, omitKeyUsage: true });
  const wide = await ca({ pathLen: undefined, subject: 'CN=wide' });
  const narrow = await makeCert({
    isCa: true,
    pathLen: 0,
    keyUsage: ['keyCertSign'],
    issuer: wide,
    subject: 'CN=narrow',
  });
  const tooDeep = await makeCert({
    isCa: true,
    pathLen: 0,
    keyUsage: ['keyCertSign'],
    issuer: narrow,
    subject: 'CN=too deep',
  });
  const cases: Array<[string, Partial<PathValidationInput> | (() => Promise<Partial<PathValidationInput>>), string]> = [
    ['root from another PKI', { roots: [other.root.der] }, 'no-chain'],
    ['intermediate missing', { intermediates: [] }, 'no-chain'],
    ['leaf expired', { now: NOW + 2 * HOUR }, 'expired'],
    ['leaf not yet valid', { now: NOW - HOUR }, 'not-yet-valid'],
    [
      'EKU lacks the required purpose',
      async () => ({
        leaf: (await pki.issueSvid(ID, { extKeyUsage: ['codeSigning'] })).der,
        requiredEku: EKU_OIDS.serverAuth,
      }),
      'eku',
    ],
    [
      'issuer is not a CA',
      async () => ({ leaf: (await makeCert({ issuer: notCa })).der, intermediates: [notCa.der] }),
      'not-ca',
    ],
    [
      'leaf with keyCertSign but CA:false',
      async () => ({ leaf: (await pki.issueSvid(ID, { keyUsage: ['digitalSignature', 'keyCertSign'] })).der }),
      'key-usage',
    ],
    [
      'pathLen 0 exceeded',
      async () => ({
        leaf: (await makeCert({ issuer: tooDeep })).der,
        intermediates: [wide.der, narrow.der, tooDeep.der],
      }),
      'path-len',
    ],
  ];
  for (const [name, change, reason] of cases) {
    const extra = typeof change === 'function' ? await change() : change;
    t.equal(reasonOf({ ...base, ...extra }), reason, name);
  }
  t.equal(
    reasonOf({ ...base, leaf: (await makeCert({ issuer: narrow })).der, intermediates: [wide.der, narrow.der] }),
    'ok',
    'pathLen 0 respected',
  );
});

t.test('path building backtracks past an expired branch', async (t) => {
  const expired = await ca({
    key: pki.intermediate.key,
    subject: pki.intermediate.cert.subject,
    notBefore: new Date(NOW - 3 * HOUR),
    notAfter: new Date(NOW - 2 * HOUR),
  });
  const svid = await pki.issueSvid(ID);
  const input = { leaf: svid.der, roots: [pki.root.der], now: NOW };
  t.equal(reasonOf({ ...input, intermediates: [expired.der] }), 'expired');
  t.equal(reasonOf({ ...input, intermediates: [expired.der, pki.intermediate.der] }), 'ok');
});

t.test('a forged signature does not chain', async (t) => {
  // Issuer name and AKI point at the real intermediate, but another private key signs the leaf.
  const forger = await ca({ subject: pki.intermediate.cert.subject });
  const leaf = await makeCert({
    issuer: { ...pki.intermediate, key: { ...forger.key, publicKey: pki.intermediate.key.publicKey } },
  });
  const honest = await makeCert({ issuer: pki.intermediate });
  t.equal(reasonOf({ leaf: honest.der, intermediates: [pki.intermediate.der], roots: [pki.root.der], now: NOW }), 'ok');
  t.equal(
    reasonOf({ leaf: leaf.der, intermediates: [pki.intermediate.der], roots: [pki.root.der], now: NOW }),
    'no-chain',
  );
});

t.test('garbage leaf is SVID_UNTRUSTED malformed', async (t) => {
  t.equal(
    reasonOf({ leaf: new Uint8Array([1, 2, 3]), intermediates: [], roots: [pki.root.der], now: NOW }),
    'malformed',
  );
});
