import t from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Child, REPO_ROOT, run, runSigil, sigil } from './fixtures/processes.ts';

// Issue 3, "done when": real child processes — control plane, two sidecars, two apps — and interop with curl and
// openssl against the inbound listener.
const TD = 'example.org';
const API_ID = `spiffe://${TD}/ns/default/sa/api`;
const WEB_ID = `spiffe://${TD}/ns/default/sa/web`;
const env = { SIGIL_CA_PASSPHRASE: 'e2e passphrase', SIGIL_LOG_LEVEL: 'debug' };

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res
        .setEncoding('utf8')
        .on('data', (c: string) => {
          body += c;
        })
        .on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

const portOf = (address: unknown): number => Number(String(address).split(':').pop());

t.test('control plane, two sidecars and two apps as processes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-e2e-'));
  const children: Child[] = [];
  t.teardown(async () => {
    for (const c of children.reverse()) await c.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const data = join(dir, 'data');
  t.equal((await runSigil(['ca', 'init', '--trust-domain', TD, '--data-dir', data], { env })).code, 0, 'ca init');
  await writeFile(join(dir, 'cp.yaml'), `dataDir: ./data\nlisten: { grpc: 127.0.0.1:0, http: 127.0.0.1:0 }\n`);
  const cp = sigil(['control-plane', 'run', '--config', join(dir, 'cp.yaml')], { env });
  children.push(cp);
  const started = await cp.waitForMessage('control plane started');
  const cpAddress = String(started['grpc']);

  const token = async (id: string) => {
    const r = await runSigil(['token', 'create', '--data-dir', data, '--spiffe-id', id, '--json'], { env });
    t.equal(r.code, 0, `token for ${id}: ${r.stderr}`);
    return (JSON.parse(r.stdout) as { token: string }).token;
  };
  await writeFile(join(dir, 'api.token'), await token(API_ID), { mode: 0o600 });
  await writeFile(
    join(dir, 'policy.yaml'),
    [
      'apiVersion: sigil.dev/v1',
      'kind: AllowPolicy',
      'metadata: { name: callers-of-api }',
      'spec:',
      `  destination: ${API_ID}`,
      '  allow:',
      `    - from: ${WEB_ID}`,
      `    - from: spiffe://${TD}/ns/default/sa/curl`,
    ].join('\n'),
  );
  const applied = await runSigil(['policy', 'apply', '--data-dir', data, '-f', join(dir, 'policy.yaml')], { env });
  t.equal(applied.code, 0, `policy apply: ${applied.stderr}`);
  t.match(applied.stdout, /applied policy version 1/);

  const api = new Child([join(REPO_ROOT, 'examples/hello/api.ts')], { env: { API_PORT: '0' } });
  children.push(api);
  const apiPort = JSON.parse(
    String((await api.waitFor((l) => /^api listening on/.test(String(l['msg'])), 'api app'))['msg']).replace(
      'api listening on ',
      '',
    ),
  ).port as number;

  await writeFile(
    join(dir, 'api-sidecar.yaml'),
    [
      `spiffeId: ${API_ID}`,
      `controlPlane: { address: "${cpAddress}", bundle: ./data/bundle.pem }`,
      'joinToken: { file: ./api.token }',
      `inbound:\n  - { listen: 127.0.0.1:0, forward: 127.0.0.1:${apiPort} }`,
      'admin: { listen: 127.0.0.1:0 }',
      'drainTimeout: 2s',
    ].join('\n'),
  );
  const apiSidecar = sigil(['sidecar', 'run', '--config', join(dir, 'api-sidecar.yaml')], { env });
  children.push(apiSidecar);
  const apiStarted = await apiSidecar.waitForMessage('sidecar started');
  const inbound = (apiStarted['inbound'] as string[])[0] as string;

  await writeFile(
    join(dir, 'web-sidecar.yaml'),
    [
      `spiffeId: ${WEB_ID}`,
      `controlPlane: { address: "${cpAddress}", bundle: ./data/bundle.pem }`,
      `outbound:\n  - { listen: 127.0.0.1:0, upstream: "${inbound}", expect: ${API_ID} }`,
      'admin: { listen: 127.0.0.1:0 }',
    ].join('\n'),
  );
  const webSidecar = sigil(['sidecar', 'run', '--config', join(dir, 'web-sidecar.yaml')], {
    env: { ...env, SIGIL_JOIN_TOKEN: await token(WEB_ID) },
  });
  children.push(webSidecar);
  const webStarted = await webSidecar.waitForMessage('sidecar started');
  const outboundPort = portOf((webStarted['outbound'] as string[])[0]);

  const web = new Child([join(REPO_ROOT, 'examples/hello/web.ts')], {
    env: { WEB_PORT: '0', API_VIA_PORT: String(outboundPort) },
  });
  children.push(web);
  const webPort = JSON.parse(
    String((await web.waitFor((l) => /^web listening on/.test(String(l['msg'])), 'web app'))['msg']).replace(
      'web listening on ',
      '',
    ),
  ).port as number;

  await t.test('an end-to-end call carries the right identities on both sides', async (t) => {
    const reply = await get(webPort, '/call');
    t.equal(reply.status, 200);
    t.match(JSON.parse(reply.body), { service: 'web', upstream: { service: 'api', message: 'hello from api' } });
    const seenByApi = await apiSidecar.waitFor((l) => l['msg'] === 'connection opened', 'inbound connection');
    t.equal(seenByApi['peer'], WEB_ID, 'the api sidecar authenticated web');
    const seenByWeb = await webSidecar.waitFor((l) => l['msg'] === 'connection opened', 'outbound connection');
    t.equal(seenByWeb['peer'], API_ID, 'the web sidecar authenticated api');
    const ready = await get(portOf(apiStarted['admin']), '/readyz');
    t.equal(ready.status, 200);
    const metrics = await get(portOf(apiStarted['admin']), '/metrics');
    t.match(metrics.body, /sigil_handshakes_total\{direction="inbound",result="ok"\} [1-9]/);
    t.match(metrics.body, /sigil_svid_not_after_timestamp_seconds \d+/);
  });

  await t.test('interop: curl with an SVID from `sigil svid fetch` reaches the app', async (t) => {
    const out = join(dir, 'curl-svid');
    const fetched = await runSigil(
      [
        'svid',
        'fetch',
        '--control-plane',
        cpAddress,
        '--bundle',
        join(data, 'bundle.pem'),
        '--token',
        await token(`spiffe://${TD}/ns/default/sa/curl`),
        '--spiffe-id',
        `spiffe://${TD}/ns/default/sa/curl`,
        '--out',
        out,
      ],
      { env },
    );
    t.equal(fetched.code, 0, fetched.stderr);
    // curl can only check host names, and SVIDs carry none: -k skips curl's own server check; the sidecar
    // still verifies curl's client certificate, which is what this test is about.
    const ok = await run('curl', [
      '-sS',
      '-k',
      '--cert',
      join(out, 'svid.pem'),
      '--key',
      join(out, 'key.pem'),
      `https://${inbound}/via-curl`,
    ]);
    t.equal(ok.code, 0, ok.stderr);
    t.match(JSON.parse(ok.stdout), { service: 'api', path: '/via-curl' });
    const verified = await run('openssl', [
      'verify',
      '-CAfile',
      join(data, 'bundle.pem'),
      '-untrusted',
      join(data, 'intermediate.pem'),
      join(out, 'svid.pem'),
    ]);
    t.equal(verified.code, 0, verified.stdout + verified.stderr);
  });

  await t.test('interop: no client certificate and TLS 1.1 are refused', async (t) => {
    const noCert = await run('curl', ['-sS', '-k', `https://${inbound}/`]);
    t.not(noCert.code, 0, 'curl without a certificate fails');
    t.notMatch(noCert.stdout, /hello from api/);
    const tls11 = await run('openssl', ['s_client', '-connect', inbound, '-tls1_1'], {
      input: 'GET / HTTP/1.0\r\n\r\n',
    });
    t.not(tls11.code, 0, 'openssl s_client -tls1_1 fails');
    t.notMatch(tls11.stdout, /hello from api/);
    const metrics = await get(portOf(apiStarted['admin']), '/metrics');
    t.match(metrics.body, /sigil_connections_refused_total\{direction="inbound",reason="no_peer_certificate"\} [1-9]/);
  });

  await t.test('SIGTERM drains and exits 0', async (t) => {
    t.equal(await webSidecar.stop(), 0, 'web sidecar');
    t.equal(await apiSidecar.stop(), 0, 'api sidecar');
    t.equal(await cp.stop(), 0, 'control plane');
    t.match(await readFile(join(data, 'control-plane.json'), 'utf8'), /"grpc"/);
  });
});
