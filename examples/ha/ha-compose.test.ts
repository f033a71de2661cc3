import t from 'tap';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { resolveControlPlaneConfig } from '../../control-plane/index.ts';
import { parseSidecarConfig } from '../../sidecar/index.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');

interface Service {
  profiles?: string[];
  command?: string[];
  volumes?: string[];
  secrets?: string[];
  depends_on?: Record<string, { condition: string }>;
}

const compose = parse(read('docker-compose.yml')) as {
  services: Record<string, Service>;
  secrets: Record<string, { file: string }>;
};
const ha = Object.fromEntries(Object.entries(compose.services).filter(([, s]) => s.profiles?.includes('ha')));

t.test('the HA profile: PostgreSQL, three NATS nodes routed to each other, three replicas', async (t) => {
  t.same(Object.keys(ha).sort(), ['cp-1', 'cp-2', 'cp-3', 'nats-1', 'nats-2', 'nats-3', 'postgres']);
  for (const i of [1, 2, 3]) {
    const args = ha[`nats-${i}`]!.command!;
    const routes = args[args.indexOf('--routes') + 1]!.split(',').sort();
    t.same(
      routes,
      [1, 2, 3].filter((j) => j !== i).map((j) => `nats://nats-${j}:6222`),
      `nats-${i} routes to the other two`,
    );
    t.equal(args[args.indexOf('--cluster_name') + 1], 'sigil');
    const cp = ha[`cp-${i}`]!;
    t.same(cp.command?.slice(0, 2), ['control-plane', 'run']);
    t.ok(cp.volumes?.includes(`cp-${i}-data:/data`), `cp-${i} has a data volume of its own`);
    t.ok(cp.secrets?.includes('pg_url'), `cp-${i} reads the database URL from a secret`);
    t.equal(cp.depends_on?.['postgres']?.condition, 'service_healthy');
  }
  t.equal(
    ha['cp-2']!.depends_on?.['cp-1']?.condition,
    'service_healthy',
    'the others join after the first stored the CA',
  );
  t.same(compose.services['ha-ca-init']?.volumes, ['cp-1-data:/data'], 'the CA is made once, in the first replica');
  for (const name of ['pg_url', 'pg_password'])
    t.doesNotThrow(() => read(compose.secrets[name]!.file), `${name} file exists`);
});

t.test('the HA configurations pass the same validation as the CLI applies', async (t) => {
  const cp = resolveControlPlaneConfig({
    file: { path: '/etc/sigil/cp.yaml', text: read('examples/ha/cp.yaml') },
    env: {},
    flags: {},
    cwd: '/',
  });
  t.same(cp.postgres, { urlFile: '/run/secrets/pg_url', poolSize: 10, schema: 'public' });
  t.same(cp.nats?.servers, ['nats://nats-1:4222', 'nats://nats-2:4222', 'nats://nats-3:4222']);
  t.equal(cp.replicas.leaderPollMs, 1000);
  const sidecar = parseSidecarConfig(read('examples/ha/sidecar.yaml'), '/etc/sigil/sidecar.yaml');
  t.same(sidecar.controlPlane.address, ['cp-1:7443', 'cp-2:7443', 'cp-3:7443']);
  t.equal(sidecar.natsServers?.length, 3);
  t.match(read('examples/ha/pg-url.example'), /^postgres:\/\/sigil:[^@]+@postgres:5432\/sigil\n$/);
});
