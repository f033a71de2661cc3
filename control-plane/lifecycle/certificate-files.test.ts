import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../../common/errors.ts';
import { readCertificateFile } from './certificate-files.ts';

// Fixtures made by openssl (Debian's), as operators make them: a CA and a leaf, then PEM, DER and PKCS#12 forms.
const dir = mkdtempSync(join(tmpdir(), 'sigil-certfiles-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
openssl(
  'req',
  '-x509',
  '-newkey',
  'ec',
  '-pkeyopt',
  'ec_paramgen_curve:P-256',
  '-nodes',
  '-keyout',
  'ca.key',
  '-out',
  'ca.pem',
  '-subj',
  '/CN=Files CA',
  '-days',
  '30',
);
openssl(
  'req',
  '-newkey',
  'ec',
  '-pkeyopt',
  'ec_paramgen_curve:P-256',
  '-nodes',
  '-keyout',
  'leaf.key',
  '-out',
  'leaf.csr',
  '-subj',
  '/CN=db.example.com',
);
writeFileSync(join(dir, 'ext'), 'subjectAltName=DNS:db.example.com\n');
openssl(
  'x509',
  '-req',
  '-in',
  'leaf.csr',
  '-CA',
  'ca.pem',
  '-CAkey',
  'ca.key',
  '-out',
  'leaf.pem',
  '-days',
  '20',
  '-extfile',
  'ext',
);
openssl('x509', '-in', 'leaf.pem', '-outform', 'DER', '-out', 'leaf.der');
openssl(
  'pkcs12',
  '-export',
  '-in',
  'leaf.pem',
  '-inkey',
  'leaf.key',
  '-certfile',
  'ca.pem',
  '-out',
  'secret.p12',
  '-passout',
  'pass:s3cret',
);
openssl(
  'pkcs12',
  '-export',
  '-in',
  'leaf.pem',
  '-nokeys',
  '-out',
  'open.p12',
  '-passout',
  'pass:',
  '-certpbe',
  'NONE',
  '-nomac',
);
const file = (name: string) => new Uint8Array(readFileSync(join(dir, name)));
const pem = (name: string) => readFileSync(join(dir, name), 'utf8');

t.test('reads a PEM chain, DER and PKCS#12 with and without a password', async (t) => {
  const chain = await readCertificateFile('chain.pem', Buffer.from(pem('leaf.pem') + pem('ca.pem')));
  t.same(
    chain.map((c) => c.description.subject),
    ['CN=db.example.com', 'CN=Files CA'],
  );
  t.same(chain[0]?.description.dnsNames, ['db.example.com']);
  t.equal(chain[0]?.description.keyBits, 256);
  t.equal(chain[0]?.description.signatureAlgorithm, 'ecdsa-with-SHA256');
  t.equal(chain[1]?.description.selfSigned, true);
  const der = await readCertificateFile('leaf.der', file('leaf.der'));
  t.equal(der[0]?.description.fingerprintSha256, chain[0]?.description.fingerprintSha256, 'DER reads the same');
  const p12 = await readCertificateFile('secret.p12', file('secret.p12'), 's3cret');
  t.same(p12.map((c) => c.description.subject).sort(), ['CN=Files CA', 'CN=db.example.com']);
  const open = await readCertificateFile('open.p12', file('open.p12'));
  t.same(
    open.map((c) => c.description.subject),
    ['CN=db.example.com'],
  );
});

t.test('refuses keys, truncation, non-certificates and missing or wrong passwords, naming the file', async (t) => {
  const cases: [string, Uint8Array, string | undefined, RegExp][] = [
    [
      'with-key.pem',
      Buffer.from(pem('leaf.pem') + pem('leaf.key')),
      undefined,
      /with-key\.pem: holds a private key: Sigil never reads or stores keys/,
    ],
    ['cut.pem', Buffer.from(pem('leaf.pem').slice(0, 200)), undefined, /cut\.pem: a PEM block is truncated/],
    ['csr.pem', Buffer.from(pem('leaf.csr')), undefined, /csr\.pem: holds no CERTIFICATE block/],
    ['notes.txt', Buffer.from('hello, not a certificate\n'), undefined, /notes\.txt: is neither PEM, DER nor PKCS#12/],
    [
      'secret.p12',
      file('secret.p12'),
      undefined,
      /secret\.p12: the PKCS#12 file is password-protected: give the password with --password-file/,
    ],
    ['secret.p12', file('secret.p12'), 'wrong', /secret\.p12: the PKCS#12 password is wrong/],
    ['half.der', file('leaf.der').slice(0, 100), undefined, /half\.der: /],
  ];
  for (const [name, bytes, password, message] of cases) {
    await t.rejects(readCertificateFile(name, bytes, password), { code: ErrorCode.CERTIFICATE_INPUT, message }, name);
  }
});
