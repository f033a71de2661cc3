import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { ErrorCode } from '../common/errors.ts';
import { SpiffeWorkloadAPIClient } from '../proto/workload.ts';
import { startControlPlane } from './fixtures/control-plane-fixture.ts';
import { REPO_ROOT, run, SIGIL_CLI } from './fixtures/processes.ts';
import { startSidecar } from './fixtures/sidecar-fixture.ts';
import { untilSvidIssuedBy } from './fixtures/sidecar-waits.ts';
import { WorkloadApiClient } from '../sidecar/workload-api-client.ts';

// Issue 19: the sidecar serves the SPIFFE Workload API on a Unix socket, and an independent client — Debian's
// python3-grpcio with stubs generated from Sigil's workload.proto, python3-jwt for the token — uses it unchanged.
const WEB = 'spiffe://example.org/ns/prod/sa/web';
const PROTO = join(REPO_ROOT, 'proto', 'spiffe', 'workload', 'workload.proto');
const PYTHON = '/usr/bin/python3';

type Event = Record<string, unknown> & { event: string };

t.test('the Workload API over a Unix socket', async (t) => {
  const cp = await startControlPlane();
  t.teardown(() => cp.stop());
  const dir = await mkdtemp(join(tmpdir(), 'sigil-wl-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await chmod(dir, 0o750);
  const socket = join(dir, 'workload.sock');
  const sc = await startSidecar(cp, {
    spiffeId: WEB,
    trustRefreshInterval: '1s',
    yaml: [`workloadApi: { socket: "${socket}", mode: "0600" }`],
  });
  t.teardown(() => sc.stop());
  t.equal((await stat(socket)).mode & 0o777, 0o600, 'the socket has the configured mode');

  t.test('an independent Python client: X.509-SVID stream, renewal, JWT-SVID, bundles, validation', async (t) => {
    const work = await mkdtemp(join(tmpdir(), 'sigil-wl-py-'));
    t.teardown(() => rm(work, { recursive: true, force: true }));
    const py = spawn(
      PYTHON,
      [join(REPO_ROOT, 'test', 'interop', 'workload_api_client.py'), PROTO, socket, work, 'api'],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    py.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    const exited = new Promise<number | null>((resolve) => py.on('close', resolve));
    t.teardown(() => py.kill());
    const events: Event[] = [];
    for await (const line of createInterface({ input: py.stdout })) {
      const event = JSON.parse(line) as Event;
      events.push(event);
      if (event.event === 'x509') {
        const verify = await run('openssl', [
          'verify',
          '-CAfile',
          String(event['bundle']),
          '-untrusted',
          String(event['untrusted']),
          String(event['leaf']),
        ]);
        t.equal(verify.code, 0, `openssl verify accepts the chain: ${verify.stdout}${verify.stderr}`);
        // A renewal of the sidecar's own SVID: the workload's follows, on the open stream.
        await cp.admin.rotate({ spiffeId: WEB, windowMs: 1000 });
        py.stdin.write('renewed\n');
      }
      if (event.event === 'done' || event.event === 'error') break;
    }
    t.equal(await exited, 0, `the client exits cleanly: ${stderr}`);
    const by = (name: string): Record<string, unknown> => events.find((e) => e.event === name) ?? {};
    t.match(by('no-header'), { x509: 'INVALID_ARGUMENT', jwt: 'INVALID_ARGUMENT' }, 'no security header: refused');
    const x509 = by('x509');
    t.match(x509, { spiffe_id: WEB, key_matches: true });
    const proxySerial = sc.sidecar.credentials.current?.material.serial.replace(/^0+/, '');
    t.not(String(x509['serial']).replace(/^0+/, ''), proxySerial, 'the workload SVID is not the proxy SVID');
    t.match(by('x509-renewed'), { key_changed: true });
    t.not(by('x509-renewed')['serial'], x509['serial'], 'a new SVID arrived on the same stream');
    t.match(by('jwt'), {
      trust_domain: 'spiffe://example.org',
      sub: WEB,
      response_spiffe_id: WEB,
      lifetime: 300,
      wrong_audience: 'refused',
    });
    t.match(by('validate'), {
      spiffe_id: WEB,
      aud: 'api',
      other_audience: 'INVALID_ARGUMENT',
      no_audience: 'INVALID_ARGUMENT',
    });
  });

  t.test('every method refuses a call without the security header with InvalidArgument', async (t) => {
    const client = new SpiffeWorkloadAPIClient(`unix:${socket}`, grpc.credentials.createInsecure());
    t.teardown(() => client.close());
    const unary = (call: (cb: (err: grpc.ServiceError | null) => void) => void) =>
      new Promise<number | undefined>((resolve) => call((err) => resolve(err?.code)));
    const stream = (s: grpc.ClientReadableStream<unknown>) =>
      new Promise<number | undefined>((resolve) => {
        s.on('data', () => resolve(grpc.status.OK));
        s.on('error', (err: grpc.ServiceError) => resolve(err.code));
      });
    const codes = {
      FetchX509SVID: await stream(client.fetchX509SVID({})),
      FetchX509Bundles: await stream(client.fetchX509Bundles({})),
      FetchJWTBundles: await stream(client.fetchJWTBundles({})),
      FetchJWTSVID: await unary((cb) => client.fetchJWTSVID({ audience: ['api'] }, cb)),
      ValidateJWTSVID: await unary((cb) => client.validateJWTSVID({ audience: 'api', svid: 'x.y.z' }, cb)),
    };
    for (const [method, code] of Object.entries(codes)) t.equal(code, grpc.status.INVALID_ARGUMENT, method);
  });

  t.test('sigil jwt fetch and sigil jwt validate, for scripts', async (t) => {
    const env = { SPIFFE_ENDPOINT_SOCKET: `unix://${socket}` };
    const fetched = await run(process.execPath, [SIGIL_CLI, 'jwt', 'fetch', '--audience', 'api', '--json'], { env });
    t.equal(fetched.code, 0, fetched.stderr);
    const { token, spiffeId } = JSON.parse(fetched.stdout) as { token: string; spiffeId: string };
    t.equal(spiffeId, WEB);
    const valid = await run(process.execPath, [SIGIL_CLI, 'jwt', 'validate', '-', '--audience', 'api'], {
      env,
      input: token,
    });
    t.equal(valid.code, 0, valid.stderr);
    t.equal(valid.stdout, `${WEB}\n`);
    const other = await run(
      process.execPath,
      [SIGIL_CLI, 'jwt', 'validate', '-', '--audience', 'billing', '--socket', socket],
      { input: token },
    );
    t.equal(other.code, 1);
    t.match(other.stderr, /not for audience "billing".*SIGIL_ERR_INVALID_ARGUMENT/);
    const none = await run(process.execPath, [SIGIL_CLI, 'jwt', 'fetch', '--socket', socket]);
    t.equal(none.code, 1);
    t.match(none.stderr, /--audience/);
  });

  t.test('the control plane serves the SPIFFE bundle with its JWT keys at /bundle.json', async (t) => {
    const response = await fetch(`http://${cp.httpAddress}/bundle.json`);
    t.equal(response.status, 200);
    const doc = (await response.json()) as { keys: { use: string; kid?: string }[]; spiffe_sequence: number };
    t.ok(doc.keys.some((k) => k.use === 'x509-svid'));
    const kids = doc.keys.filter((k) => k.use === 'jwt-svid').map((k) => k.kid);
    t.same(
      kids,
      sc.sidecar.jwtBundle.keys.map((k) => k.kid),
      'the sidecar has the same JWT keys',
    );
  });

  t.test('JWT key rotation through the CA rotation steps: tokens before and after validate throughout', async (t) => {
    const client = new WorkloadApiClient({ socketPath: socket });
    t.teardown(() => client.close());
    const validates = (token: string, audience: string) =>
      client.validateJwtSvid(token, audience).then(
        () => true,
        () => false,
      );
    const jwtKeys = (count: number) =>
      new Promise<void>((resolve) => {
        if (sc.sidecar.jwtBundle.keys.length === count) return resolve();
        const off = sc.sidecar.jwtBundle.onChange((keys) => {
          if (keys.length === count) {
            off();
            resolve();
          }
        });
      });
    const before = (await client.fetchJwtSvid(['rot-before'])).token;
    const prepared = await cp.admin.rotateCa({ step: 'prepare' });
    const newIntermediate = prepared.status?.next?.intermediate?.serial ?? '';
    await jwtKeys(2);
    t.ok(await validates(before, 'rot-before'), 'after prepare');
    await cp.admin.rotateCa({ step: 'activate', windowMs: 1_000, force: true });
    const after = (await client.fetchJwtSvid(['rot-after'])).token;
    const kid = (token: string) => JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()).kid;
    t.not(kid(after), kid(before), 'the new key signs after activate');
    t.ok(await validates(before, 'rot-before'), 'the old token after activate');
    t.ok(await validates(after, 'rot-after'), 'the new token after activate');
    // Retire needs every live SVID renewed under the new CA: the sidecar's and the workload's (its own lineage).
    const workloadRenewed = new Promise<void>((resolve) => {
      const off = sc.sidecar.workloadApi?.svids.onChange(() => {
        off?.();
        resolve();
      });
    });
    await Promise.all([untilSvidIssuedBy(sc.sidecar, newIntermediate), workloadRenewed]);
    const retired = await cp.admin.rotateCa({ step: 'retire' });
    t.same(
      retired.blockers.map((b) => b.serial),
      [],
      'no blocker: the workload SVID was replaced, not left behind',
    );
    await jwtKeys(1);
    t.ok(await validates(after, 'rot-after'), 'the new token after retire');
    t.notOk(await validates(before, 'rot-before'), 'the retired key’s token no longer validates');
  });

  t.test('a client that disconnects mid-stream leaves nothing behind', async (t) => {
    const client = new SpiffeWorkloadAPIClient(`unix:${socket}`, grpc.credentials.createInsecure());
    t.teardown(() => client.close());
    const workloadApi = sc.sidecar.workloadApi;
    if (!workloadApi) throw new Error('the Workload API is not running');
    const before = workloadApi.server.openStreams;
    const metadata = new grpc.Metadata();
    metadata.set('workload.spiffe.io', 'true');
    const streams = Array.from({ length: 5 }, () => client.fetchX509SVID({}, metadata));
    await Promise.all(streams.map((s) => new Promise((resolve) => s.once('data', resolve))));
    t.equal(workloadApi.server.openStreams, before + 5);
    const listeners = workloadApi.svids.listenerCount;
    for (const s of streams) {
      s.on('error', () => undefined);
      s.cancel();
    }
    while (workloadApi.server.openStreams > before) await new Promise((resolve) => setImmediate(resolve));
    t.equal(workloadApi.server.openStreams, before);
    t.equal(workloadApi.svids.listenerCount, listeners - 5, 'every cancelled stream unsubscribed');
  });

  t.test('revoking the identity revokes the workload SVID with it', async (t) => {
    const workloadApi = sc.sidecar.workloadApi;
    const serial = workloadApi?.svids.current?.serial ?? '';
    t.not(serial, '');
    const client = new SpiffeWorkloadAPIClient(`unix:${socket}`, grpc.credentials.createInsecure());
    t.teardown(() => client.close());
    const metadata = new grpc.Metadata();
    metadata.set('workload.spiffe.io', 'true');
    const stream = client.fetchX509SVID({}, metadata);
    await new Promise((resolve) => stream.once('data', resolve));
    const ended = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    await cp.admin.revoke({ spiffeId: WEB, reason: 'keyCompromise' });
    t.equal((await ended).code, grpc.status.PERMISSION_DENIED, 'the open stream ends: no identity to hand out');
    t.equal(workloadApi?.svids.current, undefined, 'the sidecar no longer hands it out');
    const certificate = await cp.admin.getCertificate(serial);
    t.equal(certificate.status, 'revoked', 'the workload SVID is revoked');
  });
});

t.test('a bad socket path is a clear start-up error, before the join token is used', async (t) => {
  const cp = await startControlPlane();
  t.teardown(() => cp.stop());
  const dir = await mkdtemp(join(tmpdir(), 'sigil-wl-bad-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const open = join(dir, 'open');
  await mkdir(open, { mode: 0o777 });
  await chmod(open, 0o777);
  await writeFile(join(dir, 'file'), 'not a socket');
  const cases = [
    { name: 'missing directory', socket: join(dir, 'missing', 'workload.sock'), message: /does not exist/ },
    { name: 'world-writable directory', socket: join(open, 'workload.sock'), message: /world-writable/ },
    { name: 'a regular file at the path', socket: join(dir, 'file'), message: /not a socket/ },
  ];
  for (const c of cases) {
    await t.rejects(
      startSidecar(cp, { spiffeId: WEB, yaml: [`workloadApi: { socket: "${c.socket}" }`] }),
      { code: ErrorCode.WORKLOAD_API_SOCKET, message: c.message },
      c.name,
    );
  }
  const issued = await cp.admin.listCertificates({ spiffeId: WEB });
  t.equal(issued.certificates.length, 0, 'no attestation happened');
});
