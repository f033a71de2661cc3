import t from 'tap';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { resolveControlPlaneConfig } from '../../control-plane/index.ts';
import { parseSidecarConfig } from '../../sidecar/index.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');

t.test('docker-compose.yml describes the hello topology', async (t) => {
  const compose = parse(read('docker-compose.yml')) as {
    services: Record<string, { command?: string[]; volumes?: string[]; network_mode?: string; depends_on?: string[] }>;
  };
  for (const name of ['control-plane', 'nats', 'api', 'api-sidecar', 'web', 'web-sidecar'])
    t.ok(compose.services[name], `service ${name}`);
  t.equal(compose.services['api']?.network_mode, 'service:api-sidecar', "api shares its sidecar's network namespace");
  t.same(compose.services['api-sidecar']?.command?.slice(0, 2), ['sidecar', 'run']);
  t.same(compose.services['control-plane']?.command?.slice(0, 2), ['control-plane', 'run']);
  for (const [name, service] of Object.entries(compose.services)) {
    for (const volume of service.volumes ?? []) {
      const source = volume.split(':')[0] ?? '';
      if (source.startsWith('./') && !source.includes('/tokens/'))
        t.doesNotThrow(() => read(source), `${name} mounts existing ${source}`);
    }
  }
});

t.test('the compose configurations pass the same validation as the CLI applies', async (t) => {
  const cp = resolveControlPlaneConfig({
    file: { path: 'cp.yaml', text: read('examples/hello/compose/cp.yaml') },
    env: {},
    flags: {},
    cwd: '/',
  });
  t.equal(cp.listen.grpc.port, 7443);
  for (const name of ['api-sidecar', 'web-sidecar']) {
    const config = parseSidecarConfig(read(`examples/hello/compose/${name}.yaml`), `/etc/sigil/${name}.yaml`);
    t.equal(config.trustDomain, 'example.org', name);
  }
  const web = parseSidecarConfig(read('examples/hello/compose/web-sidecar.yaml'), '/etc/sigil/web.yaml');
  t.same(web.outbound[0]?.expect, ['spiffe://example.org/ns/default/sa/api']);
});
