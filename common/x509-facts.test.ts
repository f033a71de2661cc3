import t from 'tap';
import { ErrorCode, isSigilError } from './errors.ts';
import { EKU_OIDS, parseX509Facts } from './x509-facts.ts';
import { makeCert, makeTestPki } from '../test/fixtures/cert-factory.ts';

const pki = await makeTestPki('example.org');

t.test('facts of a conformant SVID', async (t) => {
  const svid = await pki.issueSvid('spiffe://example.org/a', { dnsNames: ['a.example'], ipAddresses: ['127.0.0.1'] });
  const f = parseX509Facts(svid.der);
  t.ok(Object.isFrozen(f));
  t.equal(f.serial, svid.serial);
  t.equal(f.subject, 'O=Sigil tests');
  t.equal(f.issuer, pki.intermediate.cert.subject);
  t.equal(f.notBefore, svid.cert.notBefore.getTime());
  t.equal(f.notAfter, svid.cert.notAfter.getTime());
  t.same([f.basicConstraintsPresent, f.basicConstraintsCritical, f.isCa, f.pathLen], [true, true, false, undefined]);
  t.same([f.keyUsagePresent, f.keyUsageCritical, f.keyUsage], [true, true, ['digitalSignature']]);
  t.same(
    [f.extKeyUsagePresent, f.extKeyUsage, f.extKeyUsageNames],
    [true, [EKU_OIDS.serverAuth, EKU_OIDS.clientAuth], ['serverAuth', 'clientAuth']],
  );
  t.same(f.uriSans, ['spiffe://example.org/a']);
  t.same(f.dnsSans, ['a.example']);
  t.same(f.ipSans, ['127.0.0.1']);
  t.match(f.subjectKeyId, /^[0-9a-f]{40}$/);
  t.equal(f.authorityKeyId, parseX509Facts(pki.intermediate.der).subjectKeyId);
  t.same(f.publicKey, { kind: 'ec', namedCurve: 'P-256' });
  t.equal(f.signatureHash, 'SHA-256');
  t.match(f.spkiSha256, /^[0-9a-f]{64}$/);
  t.ok(f.extensions.some((e) => e.oid === '2.5.29.19' && e.critical));
});

t.test('facts of CA certificates and other key types', async (t) => {
  const root = parseX509Facts(pki.root.der);
  t.same(
    [root.isCa, root.pathLen, root.keyUsage, root.extKeyUsagePresent],
    [true, undefined, ['keyCertSign', 'cRLSign'], false],
  );
  const inter = parseX509Facts(pki.intermediate.der);
  t.same([inter.isCa, inter.pathLen, inter.uriSans], [true, 0, ['spiffe://example.org']]);
  const rsa = parseX509Facts((await makeCert({ keyType: 'rsa-3072' })).der);
  t.same(rsa.publicKey, { kind: 'rsa', modulusBits: 3072 });
  const p384 = await makeCert({ keyType: 'ec-p384' });
  t.same(parseX509Facts(p384.der).publicKey, { kind: 'ec', namedCurve: 'P-384' });
  t.equal(parseX509Facts(p384.der).signatureHash, 'SHA-384');
});

t.test('URI SANs are a list, never split from a display string', async (t) => {
  const tricky = 'spiffe://example.org/a,URI:spiffe://example.org/b';
  const f = parseX509Facts((await pki.issueSvid(tricky)).der);
  t.same(f.uriSans, [tricky]);
  const two = parseX509Facts(
    (await pki.issueSvid('spiffe://example.org/a', { uris: ['spiffe://example.org/a', 'spiffe://example.org/b'] })).der,
  );
  t.equal(two.uriSans.length, 2);
});

t.test('the same key gives the same SPKI hash across certificates', async (t) => {
  const a = await makeCert();
  const b = await makeCert({ key: a.key });
  t.equal(parseX509Facts(a.der).spkiSha256, parseX509Facts(b.der).spkiSha256);
  t.not(parseX509Facts(a.der).spkiSha256, parseX509Facts((await makeCert()).der).spkiSha256);
});

t.test('undecodable input is SVID_INVALID', async (t) => {
  for (const bad of [new Uint8Array(0), new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), Buffer.from('not a cert')]) {
    t.ok(failsWithSvidInvalid(bad), `${bad.length} bytes`);
  }
  t.ok(failsWithSvidInvalid(pki.root.der.subarray(0, pki.root.der.length - 10)), 'truncated');
});

function failsWithSvidInvalid(der: Uint8Array): boolean {
  try {
    parseX509Facts(der);
    return false;
  } catch (err) {
    return isSigilError(err, ErrorCode.SVID_INVALID);
  }
}
