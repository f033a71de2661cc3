import t from 'tap';
import { mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { echoServer, oneShot } from './fixtures/net.ts';
import { type Child, runSigil, sigil } from './fixtures/processes.ts';

// Issue 20, "done when": a sidecar started 20 s before its control plane becomes ready on its own; a sidecar killed
// with SIGKILL and restarted without a token serves again with a renewed SVID; a revoked sidecar turns not-ready and
// recovers after `unrevoke` and a fresh token, without a restart. Real processes throughout.
const TD = 'example.org';
const API_ID = `spiffe://${TD}/ns/default/sa/api`;
const WEB_ID = `spiffe://${TD}/ns/default/sa/web`;
const env = { SIGIL_CA_PASSPHRASE: 'day-2 passphrase', SIGIL_LOG_LEVEL: 'info' };
/** The scenario of the issue: the control plane comes up this long after the sidecars. */
const CONTROL_PLANE_LATE_MS = 20_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.once('error', reject);
  });
}

function readyz(address: unknown): Promise<{ status: number; body: { checks: Record<string, { detail: string }> } }> {
  const port = Number(String(address).split(':').pop());
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/readyz', agent: false }, (res) => {
      let body = '';
      res
        .setEncoding('utf8')
        .on('data', (c: string) => {
          body += c;
        })
        .on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) }));
    })
      .on('error', reject)
      .end();
  });
}

/** The n-th log line (1-based) matching, past or future. */
async function nth(child: Child, n: number, match: (l: Record<string, unknown>) => boolean, what: string) {
  for (;;) {
    const seen = child.lines.filter(match);
    if (seen.length >= n) return seen[n - 1] as Record<string, unknown>;
    await child.waitFor((l) => match(l) && !seen.includes(l), what);
  }
}

t.test(
  'sidecars wait for a late control plane, survive SIGKILL without a token, and recover from revocation',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'sigil-day2-'));
    const children: Child[] = [];
    t.teardown(async () => {
      for (const c of children.reverse()) await c.stop();
      echo.close();
      await rm(dir, { recursive: true, force: true });
    });
    const data = join(dir, 'data');
    const echo = await echoServer();
    const [grpcPort, apiInboundPort, deadNatsPort] = [await freePort(), await freePort(), await freePort()];
    t.equal((await runSigil(['ca', 'init', '--trust-domain', TD, '--data-dir', data], { env })).code, 0, 'ca init');
    await writeFile(
      join(dir, 'cp.yaml'),
      `dataDir: ./data\nlisten: { grpc: 127.0.0.1:${grpcPort}, http: 127.0.0.1:0 }\n`,
    );
    const startControlPlane = async () => {
      const cp = sigil(['control-plane', 'run', '--config', join(dir, 'cp.yaml')], { env });
      children.push(cp);
      await cp.waitForMessage('control plane started');
      return cp;
    };
    const admin = async (args: string[]) => {
      const r = await runSigil([...args, '--data-dir', data], { env });
      t.equal(r.code, 0, `sigil ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const token = async (id: string) =>
      (JSON.parse(await admin(['token', 'create', '--spiffe-id', id, '--json'])) as { token: string }).token;

    // The operator prepares tokens and the policy, then the control plane goes away.
    let cp = await startControlPlane();
    await writeFile(join(dir, 'api.token'), await token(API_ID), { mode: 0o600 });
    const webToken = await token(WEB_ID);
    await writeFile(
      join(dir, 'policy.yaml'),
      `apiVersion: sigil.dev/v1\nkind: AllowPolicy\nmetadata: { name: web-to-api }\nspec:\n  destination: ${API_ID}\n  allow:\n    - from: ${WEB_ID}\n`,
    );
    await admin(['policy', 'apply', '-f', join(dir, 'policy.yaml')]);
    t.equal(await cp.stop(), 0, 'control plane stopped');

    const common = [
      `controlPlane: { address: "127.0.0.1:${grpcPort}", bundle: ./data/bundle.pem }`,
      'admin: { listen: 127.0.0.1:0 }',
      'retry: { maxBackoff: 2s }',
      'trustRefreshInterval: 1s',
      'drainTimeout: 1s',
    ];
    await writeFile(
      join(dir, 'api.yaml'),
      [
        `spiffeId: ${API_ID}`,
        ...common,
        'stateDir: ./api-state',
        'joinToken: { file: ./api.token }',
        `inbound:\n  - { listen: 127.0.0.1:${apiInboundPort}, forward: 127.0.0.1:${echo.port} }`,
      ].join('\n'),
    );
    await writeFile(
      join(dir, 'web.yaml'),
      [
        `spiffeId: ${WEB_ID}`,
        ...common,
        'stateDir: ./web-state',
        // No NATS server ever listens here: NATS being absent is no reason to wait or to be unready.
        `nats: { servers: ["nats://127.0.0.1:${deadNatsPort}"] }`,
        `outbound:\n  - { listen: 127.0.0.1:0, upstream: "127.0.0.1:${apiInboundPort}", expect: ${API_ID} }`,
      ].join('\n'),
    );
    const runApi = () => {
      const c = sigil(['sidecar', 'run', '--config', join(dir, 'api.yaml')], { env });
      children.push(c);
      return c;
    };
    let api = runApi();
    const web = sigil(['sidecar', 'run', '--config', join(dir, 'web.yaml')], {
      env: { ...env, SIGIL_JOIN_TOKEN: webToken },
    });
    children.push(web);
    const controlPlaneDue = delay(CONTROL_PLANE_LATE_MS);
    let webOutbound = 0;

    await t.test('without a control plane the sidecars wait, not ready, and say why', async (t) => {
      const waiting = await api.waitForMessage(
        'no SVID yet; waiting for the control plane (retrying with capped backoff; /readyz says why)',
      );
      const ready = await readyz(waiting['admin']);
      t.equal(ready.status, 503);
      t.match(ready.body.checks['svid']?.detail, /SIGIL_ERR_UNAVAILABLE/);
      t.match(ready.body.checks['listeners']?.detail, /not open/);
      await web.waitForMessage(
        'no SVID yet; waiting for the control plane (retrying with capped backoff; /readyz says why)',
      );
      t.equal(api.process.exitCode, null, 'the api sidecar is still running');
    });

    await t.test('20 s later the control plane starts and both sidecars become ready on their own', async (t) => {
      await controlPlaneDue;
      t.equal(api.process.exitCode, null, 'still running after 20 s');
      cp = await startControlPlane();
      const apiStarted = await api.waitForMessage('sidecar started');
      const webStarted = await web.waitForMessage('sidecar started');
      webOutbound = Number(
        String((webStarted['outbound'] as string[])[0])
          .split(':')
          .pop(),
      );
      t.equal((await readyz(apiStarted['admin'])).status, 200);
      const webReady = await readyz(webStarted['admin']);
      t.equal(webReady.status, 200, 'web is ready although its NATS is absent');
      t.match(webReady.body.checks['events']?.detail, /disconnected from NATS; converging over gRPC/);
      await oneShot(webOutbound, 'hello after the outage');
      const state = await stat(join(dir, 'api-state'));
      t.equal(state.mode & 0o777, 0o700, 'stateDir is 0700');
      const file = await stat(join(dir, 'api-state', 'svid-state.json'));
      t.equal(file.mode & 0o777, 0o600, 'the stored SVID (with its key) is 0600');
    });

    await t.test('SIGKILL, then a restart without any token renews with the stored SVID', async (t) => {
      const before = await api.waitForMessage('SVID obtained by attestation');
      api.process.kill('SIGKILL');
      await api.exited;
      await unlink(join(dir, 'api.token'));
      api = runApi();
      const renewed = await api.waitForMessage('SVID renewed');
      t.equal(renewed['reason'], 'start', 'renewed at start');
      t.not(renewed['serial'], before['serial'], 'a new SVID');
      const started = await api.waitForMessage('sidecar started');
      t.equal((await readyz(started['admin'])).status, 200);
      await oneShot(webOutbound, 'hello after SIGKILL');
      const stored = JSON.parse(await readFile(join(dir, 'api-state', 'svid-state.json'), 'utf8')) as object;
      t.notOk('serial' in stored, 'serial and expiry are read from the certificate, not stored beside it');
    });

    await t.test(
      'revoked: not ready with the reason; unrevoke and a fresh token bring it back without restart',
      async (t) => {
        const started = await api.waitForMessage('sidecar started');
        await admin(['revoke', '--spiffe-id', API_ID, '--reason', 'keyCompromise']);
        await api.waitFor(
          (l) => l['err_code'] === 'SIGIL_ERR_REVOKED' && /refused to renew this SVID/.test(String(l['msg'])),
          'the sidecar noticing its own revocation',
        );
        const notReady = await readyz(started['admin']);
        t.equal(notReady.status, 503);
        t.match(notReady.body.checks['svid']?.detail, /^revoked/);
        t.equal(
          (await stat(join(dir, 'api-state', 'svid-state.json')).catch(() => undefined)) ?? 'gone',
          'gone',
          'the revoked SVID is no longer kept for the next start',
        );
        await admin(['unrevoke', '--spiffe-id', API_ID]);
        await writeFile(join(dir, 'api.token'), await token(API_ID), { mode: 0o600 });
        await nth(api, 1, (l) => l['msg'] === 'SVID obtained by attestation', 're-attestation');
        t.equal((await readyz(started['admin'])).status, 200, 'ready again, same process');
        await oneShot(webOutbound, 'hello after unrevoke');
        t.equal(api.process.exitCode, null, 'never restarted');
      },
    );
  },
);
