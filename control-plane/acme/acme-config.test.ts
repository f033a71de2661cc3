import { readFileSync } from 'node:fs';
import t from 'tap';
import { resolveControlPlaneConfig } from '../config.ts';
import { parseAcmeDocument } from './acme-config.ts';

const doc = (body: string) => `apiVersion: sigil.dev/v1\nkind: AcmeCertificates\n${body}`;

t.test('a certs.yaml document: defaults, lowercased names, paths against its directory', async (t) => {
  const decl = parseAcmeDocument(
    doc(`accounts:
  - name: le
    directory: https://acme.example/dir
    eab: { keyId: kid-1, hmacFile: secrets/eab.hmac }
certificates:
  - name: www
    account: le
    names: [WWW.Example.com]
    challenge: { type: dns-01, hook: [./hooks/dns.sh], propagation: 30s }
    install: { dir: ./tls/www }
    reload: { signal: SIGHUP, pidFile: /run/nginx.pid }
`),
    'certs.yaml',
    '/etc/sigil',
  );
  t.match(decl.accounts[0], { keyType: 'ec-p256', contact: [], eab: { hmacFile: '/etc/sigil/secrets/eab.hmac' } });
  t.match(decl.certificates[0], {
    names: ['www.example.com'],
    keyType: 'ec-p256',
    challenge: { type: 'dns-01', propagation: 30_000, timeout: 60_000 },
    install: { dir: '/etc/sigil/tls/www' },
  });
});

t.test('every finding at once, with lines', async (t) => {
  const cases: [string, string, RegExp][] = [
    [
      'wildcard needs dns-01',
      `accounts: [{ name: le, directory: https://a.example/dir }]
certificates:
  - { name: w, account: le, names: ['*.example.com'], challenge: { type: http-01 }, install: { dir: /x } }
`,
      /certificates\.0\.names: wildcard names can only be validated with dns-01/,
    ],
    [
      'plain http directory',
      'accounts: [{ name: le, directory: http://a.example/dir }]\n',
      /c\.yaml:3: accounts\.0\.directory: must be an https:\/\/ ACME directory URL/,
    ],
    [
      'inline secrets are not a thing',
      'accounts: [{ name: le, directory: https://a.example/dir, eab: { keyId: k, hmac: abc } }]\n',
      /unknown key "hmac"/,
    ],
    [
      'duplicates and unknown accounts',
      `accounts: [{ name: le, directory: https://a.example/dir }]
certificates:
  - { name: w, account: le, names: [a.example], challenge: { type: http-01 }, install: { dir: /x } }
  - { name: w, account: zz, names: [b.example], challenge: { type: http-01 }, install: { dir: /x } }
`,
      /\(3 findings\)[\s\S]*duplicate certificate w[\s\S]*unknown account zz[\s\S]*\/x is already the install directory of w/,
    ],
  ];
  for (const [name, body, expected] of cases) {
    t.throws(
      () => parseAcmeDocument(doc(body), 'c.yaml', '/'),
      { code: 'SIGIL_ERR_CONFIG_INVALID', message: expected },
      name,
    );
  }
});

t.test('the acme: section of cp.yaml', async (t) => {
  const config = resolveControlPlaneConfig({
    file: {
      path: '/etc/sigil/cp.yaml',
      text: `acme:
  http01: { listen: 0.0.0.0:80 }
  checkInterval: 30m
  accounts: [{ name: le, directory: https://a.example/dir, caFile: ca.pem }]
  certificates:
    - { name: w, account: le, names: [a.example], challenge: { type: http-01, webroot: /var/www }, install: { dir: tls } }
`,
    },
    env: {},
    flags: {},
    cwd: '/',
  });
  t.match(config.acme, {
    http01Listen: { host: '0.0.0.0', port: 80 },
    tlsAlpn01Listen: undefined,
    checkIntervalMs: 1_800_000,
    accounts: [{ caFile: '/etc/sigil/ca.pem' }],
    certificates: [{ install: { dir: '/etc/sigil/tls' }, challenge: { webroot: '/var/www' } }],
  });
  t.throws(
    () =>
      resolveControlPlaneConfig({
        file: {
          path: 'cp.yaml',
          text: 'acme:\n  certificates: [{ name: w, account: nobody, names: [a.example], challenge: { type: tls-alpn-01 }, install: { dir: /x } }]\n',
        },
        env: {},
        flags: {},
        cwd: '/',
      }),
    { code: 'SIGIL_ERR_CONFIG_INVALID', message: /acme\.certificates\.0\.account: unknown account nobody/ },
  );
  t.equal(resolveControlPlaneConfig({ env: {}, flags: {}, cwd: '/' }).acme, undefined, 'no section: no declarations');
});

t.test("the README's certs.yaml example is a valid document", async (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const block = readme
    .split('```yaml')
    .find((b) => b.includes('kind: AcmeCertificates'))
    ?.split('```')[0];
  t.ok(block, 'the example is there');
  const decl = parseAcmeDocument(block ?? '', 'README.md', '/');
  t.same(
    decl.certificates.map((c) => c.challenge.type),
    ['http-01', 'http-01', 'tls-alpn-01', 'dns-01'],
  );
});
