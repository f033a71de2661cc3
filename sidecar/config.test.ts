import t from 'tap';
import { ErrorCode } from '../common/errors.ts';
import { parseSidecarConfig } from './config.ts';

const base = (address = '127.0.0.1:7443', extra = '') =>
  `spiffeId: spiffe://example.org/ns/a/sa/b\ncontrolPlane: { address: "${address}", bundle: ./bundle.pem }\n${extra}`;

t.test('a malformed controlPlane.address is refused at load', async (t) => {
  t.throws(() => parseSidecarConfig(base('127.0.0.1:27443x'), '/etc/sigil/sidecar.yaml'), {
    code: ErrorCode.CONFIG_INVALID,
    message: /controlPlane\.address "127\.0\.0\.1:27443x"/,
  });
});

t.test('an unknown SIGIL_LOG_LEVEL is a config finding, not an internal pino error', async (t) => {
  t.throws(() => parseSidecarConfig(base(), '/etc/sigil/sidecar.yaml', { SIGIL_LOG_LEVEL: 'verbose' }), {
    code: ErrorCode.CONFIG_INVALID,
    message: /SIGIL_LOG_LEVEL="verbose" is not a log level: use one of trace, debug, info/,
  });
  t.equal(parseSidecarConfig(base(), '/etc/sigil/sidecar.yaml', { SIGIL_LOG_LEVEL: 'debug' }).logLevel, 'debug');
});

t.test('stateDir and joinToken.file are resolved against the config file', async (t) => {
  const c = parseSidecarConfig(
    base('127.0.0.1:7443', 'stateDir: ./state\njoinToken: { file: ./api.token }\nretry: { maxBackoff: 5s }\n'),
    '/etc/sigil/sidecar.yaml',
  );
  t.equal(c.stateDir, '/etc/sigil/state');
  t.equal(c.joinTokenFile, '/etc/sigil/api.token');
  t.equal(c.retryMaxBackoffMs, 5000);
  t.equal(parseSidecarConfig(base(), '/etc/sigil/sidecar.yaml').stateDir, undefined, 'no stateDir by default');
});

t.test('x509pop certFile and keyFile are resolved against the config file', async (t) => {
  const c = parseSidecarConfig(
    base('127.0.0.1:7443', 'x509pop: { certFile: ./device.pem, keyFile: keys/device.key }\n'),
    '/etc/sigil/sidecar.yaml',
  );
  t.same(c.x509pop, { certFile: '/etc/sigil/device.pem', keyFile: '/etc/sigil/keys/device.key' });
  t.equal(parseSidecarConfig(base(), '/etc/sigil/sidecar.yaml').x509pop, undefined);
  t.throws(() => parseSidecarConfig(base('127.0.0.1:7443', 'x509pop: { certFile: ./d.pem }\n'), '/etc/sigil/s.yaml'), {
    code: ErrorCode.CONFIG_INVALID,
  });
});

t.test('resumption is on by default, can be turned off, and takes only a boolean', async (t) => {
  t.equal(parseSidecarConfig(base(), '/etc/sigil/sidecar.yaml').resumption, true);
  t.equal(
    parseSidecarConfig(base('127.0.0.1:7443', 'resumption: false\n'), '/etc/sigil/sidecar.yaml').resumption,
    false,
  );
  t.throws(() => parseSidecarConfig(base('127.0.0.1:7443', 'resumption: sometimes\n'), '/etc/sigil/sidecar.yaml'), {
    code: ErrorCode.CONFIG_INVALID,
    message: /resumption/,
  });
});

t.test('inbound listeners bound unfinished handshakes by default, and the bounds can be set', async (t) => {
  const listener = 'inbound:\n  - { listen: "127.0.0.1:0", forward: "127.0.0.1:8080"';
  const [defaults] = parseSidecarConfig(base('127.0.0.1:7443', `${listener} }\n`), '/etc/sigil/s.yaml').inbound;
  t.match(defaults, { handshakeTimeoutMs: 10_000, maxPendingHandshakes: 1024, maxPendingHandshakesPerSource: 64 });
  const [set] = parseSidecarConfig(
    base(
      '127.0.0.1:7443',
      `${listener}, handshakeTimeout: 3s, maxPendingHandshakes: 100, maxPendingHandshakesPerSource: 5 }\n`,
    ),
    '/etc/sigil/s.yaml',
  ).inbound;
  t.match(set, { handshakeTimeoutMs: 3000, maxPendingHandshakes: 100, maxPendingHandshakesPerSource: 5 });
  t.throws(
    () => parseSidecarConfig(base('127.0.0.1:7443', `${listener}, maxPendingHandshakesPerSource: 0 }\n`), '/s.yaml'),
    { code: ErrorCode.CONFIG_INVALID, message: /maxPendingHandshakesPerSource/ },
  );
});
