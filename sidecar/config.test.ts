import t from 'tap';
import { ErrorCode } from '../common/errors.ts';
import { parseSidecarConfig } from './config.ts';

const yaml = (address: string) =>
  `spiffeId: spiffe://example.org/ns/prod/sa/web\ncontrolPlane: { address: ${address}, bundle: bundle.pem }\n`;

t.test('controlPlane.address: one replica, a list, or a comma-separated string', async (t) => {
  const cases: [string, string, Record<string, string>, string[]][] = [
    ['one', '"cp:7443"', {}, ['cp:7443']],
    ['a YAML list', '[cp-a:7443, cp-b:7443, "10.0.0.3:7443"]', {}, ['cp-a:7443', 'cp-b:7443', '10.0.0.3:7443']],
    ['a comma list', '"cp-a:7443,cp-b:7443"', {}, ['cp-a:7443', 'cp-b:7443']],
    ['SIGIL_CONTROL_PLANE wins', '"cp:7443"', { SIGIL_CONTROL_PLANE: 'x:1, y:2' }, ['x:1', 'y:2']],
  ];
  for (const [name, address, env, expected] of cases) {
    t.same(parseSidecarConfig(yaml(address), '/etc/sigil/sidecar.yaml', env).controlPlane.address, expected, name);
  }
  t.throws(() => parseSidecarConfig(yaml('[cp-a:7443, nowhere]'), 'sidecar.yaml'), {
    code: ErrorCode.CONFIG_INVALID,
    message: /"nowhere".*host:port/,
  });
  t.throws(() => parseSidecarConfig(yaml('[]'), 'sidecar.yaml'), { code: ErrorCode.CONFIG_INVALID });
});
