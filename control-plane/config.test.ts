import t from 'tap';
import { ErrorCode } from '../common/errors.ts';
import { resolveControlPlaneConfig } from './config.ts';

const base = { env: {}, flags: {}, cwd: '/work' };

t.test('defaults without a file', async (t) => {
  const c = resolveControlPlaneConfig(base);
  t.same(c.listen.grpc, { host: '127.0.0.1', port: 7443 });
  t.same(c.listen.http, { host: '127.0.0.1', port: 7080 });
  t.equal(c.svidTtlMs, 3_600_000);
  t.equal(c.joinTokenTtlMs, 900_000);
  t.equal(c.dataDir, '/work/data');
  t.equal(c.sqlitePath, '/work/data/sigil.db');
});

t.test('file values, with paths relative to the file', async (t) => {
  const text =
    'trustDomain: example.org\ndataDir: ./d\nlisten: { grpc: 127.0.0.1:9443 }\nsvid: { ttl: 20s }\nstore: { sqlite: ./db/s.db }\n';
  const c = resolveControlPlaneConfig({ ...base, file: { path: 'etc/cp.yaml', text } });
  t.equal(c.trustDomain, 'example.org');
  t.equal(c.dataDir, '/work/etc/d');
  t.equal(c.sqlitePath, '/work/etc/db/s.db');
  t.equal(c.listen.grpc.port, 9443);
  t.equal(c.listen.http.port, 7080);
  t.equal(c.svidTtlMs, 20_000);
});

t.test('environment overrides the file, flags override both', async (t) => {
  const c = resolveControlPlaneConfig({
    file: { path: 'cp.yaml', text: 'dataDir: ./from-file\nsvid: { ttl: 1h }\n' },
    env: { SIGIL_DATA_DIR: '/env-dir', SIGIL_SVID_TTL: '5m', SIGIL_LISTEN_GRPC: '127.0.0.1:0' },
    flags: { dataDir: '/flag-dir' },
    cwd: '/work',
  });
  t.equal(c.dataDir, '/flag-dir');
  t.equal(c.svidTtlMs, 300_000);
  t.equal(c.listen.grpc.port, 0);
});

t.test('unknown keys and bad durations are refused together', async (t) => {
  t.throws(
    () =>
      resolveControlPlaneConfig({ ...base, file: { path: 'cp.yaml', text: 'svid: { ttl: forever }\nlistn: {}\n' } }),
    {
      code: ErrorCode.CONFIG_INVALID,
      message: /cp\.yaml:1: svid\.ttl: invalid duration[\s\S]*cp\.yaml:2: unknown key "listn"/,
    },
  );
  t.throws(
    () => resolveControlPlaneConfig({ ...base, file: { path: 'cp.yaml', text: 'listen: { grpc: nowhere }\n' } }),
    { code: ErrorCode.CONFIG_INVALID, message: /use host:port/ },
  );
  t.throws(() => resolveControlPlaneConfig({ ...base, env: { SIGIL_TRUST_DOMAIN: 'Bad.Org' } }), {
    code: ErrorCode.SPIFFE_ID_INVALID,
  });
});

t.test('store: PostgreSQL from the file or the environment, never with SQLite', async (t) => {
  const file = (text: string) => ({ ...base, file: { path: 'etc/cp.yaml', text } });
  t.equal(resolveControlPlaneConfig(base).postgres, undefined, 'SQLite by default');
  t.same(resolveControlPlaneConfig(file('store: { postgres: { urlFile: ./db-url } }\n')).postgres, {
    urlFile: '/work/etc/db-url',
    poolSize: 10,
    schema: 'public',
  });
  t.same(
    resolveControlPlaneConfig(
      file('store: { postgres: { url: "postgres://sigil@db/sigil", pool: 4, schema: sigil } }\n'),
    ).postgres,
    { url: 'postgres://sigil@db/sigil', poolSize: 4, schema: 'sigil' },
  );
  t.same(
    resolveControlPlaneConfig({ ...base, env: { SIGIL_STORE_POSTGRES_URL_FILE: 'secrets/url' } }).postgres,
    { urlFile: '/work/secrets/url', poolSize: 10, schema: 'public' },
    'the environment names it too',
  );
  const refusals: [string, RegExp][] = [
    ['store: { sqlite: a.db, postgres: { url: "postgres://h/d" } }\n', /either sqlite or postgres, not both/],
    ['store: { postgres: { url: "postgres://h/d", urlFile: f } }\n', /exactly one of url and urlFile/],
    ['store: { postgres: {} }\n', /exactly one of url and urlFile/],
    ['store: { postgres: { url: "mysql://h/d" } }\n', /must be a postgres:\/\/ URL/],
    ['store: { postgres: { url: "postgres://h/d", schema: "Bad-Name" } }\n', /lowercase identifier/],
    ['store: { postgres: { url: "postgres://h/d", pool: 0 } }\n', /pool/],
  ];
  for (const [text, message] of refusals) {
    t.throws(() => resolveControlPlaneConfig(file(text)), { code: ErrorCode.CONFIG_INVALID, message }, text.trim());
  }
});

t.test('an unknown SIGIL_LOG_LEVEL is a config finding (issue 20)', async (t) => {
  t.throws(() => resolveControlPlaneConfig({ ...base, env: { SIGIL_LOG_LEVEL: 'verbose' } }), {
    code: ErrorCode.CONFIG_INVALID,
    message: /SIGIL_LOG_LEVEL="verbose" is not a log level/,
  });
});

t.test('attestation.x509pop: bundle path resolved against the file, template checked at load', async (t) => {
  const load = (text: string) => resolveControlPlaneConfig({ ...base, file: { path: 'etc/cp.yaml', text } });
  t.equal(resolveControlPlaneConfig(base).x509pop, undefined, 'off by default');
  t.same(load('attestation: { x509pop: { caBundle: ./device-ca.pem } }\n').x509pop, {
    caBundleFile: '/work/etc/device-ca.pem',
    spiffeIdTemplate: 'spiffe://{{ .TrustDomain }}/x509pop/{{ .Fingerprint }}',
  });
  t.throws(
    () =>
      load(
        'attestation: { x509pop: { caBundle: ./ca.pem, spiffeIdTemplate: "spiffe://{{ .TrustDomain }}/{{ .Serial }}" } }\n',
      ),
    { code: 'SIGIL_ERR_CONFIG_INVALID', message: /unknown placeholder \{\{ \.Serial \}\}/ },
  );
});

t.test('the dashboard: off unless configured; listen, TLS files relative to cp.yaml, a public URL', async (t) => {
  t.equal(resolveControlPlaneConfig(base).dashboard, undefined);
  const on = resolveControlPlaneConfig({ ...base, file: { path: 'etc/cp.yaml', text: 'dashboard: {}\n' } });
  t.same(on.dashboard, { listen: { host: '127.0.0.1', port: 7081 }, tls: undefined, publicUrl: undefined });
  const text =
    'dashboard:\n  listen: 0.0.0.0:8443\n  tls: { cert: ./d.pem, key: ./d.key }\n  publicUrl: https://sigil.example.com/\n';
  const full = resolveControlPlaneConfig({ ...base, file: { path: 'etc/cp.yaml', text } });
  t.same(full.dashboard, {
    listen: { host: '0.0.0.0', port: 8443 },
    tls: { certFile: '/work/etc/d.pem', keyFile: '/work/etc/d.key' },
    publicUrl: 'https://sigil.example.com',
  });
  const env = resolveControlPlaneConfig({ ...base, env: { SIGIL_LISTEN_DASHBOARD: '127.0.0.1:0' } });
  t.same(env.dashboard?.listen, { host: '127.0.0.1', port: 0 });
  t.throws(
    () =>
      resolveControlPlaneConfig({
        ...base,
        file: { path: 'cp.yaml', text: 'dashboard: { tls: { cert: ./d.pem }, colour: red }\n' },
      }),
    { code: ErrorCode.CONFIG_INVALID },
  );
});
