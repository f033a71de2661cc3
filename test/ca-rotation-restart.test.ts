import t, { type Test } from 'tap';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startNatsServer } from './fixtures/nats-server.ts';
import { runSigil, sigil, type Child } from './fixtures/processes.ts';
import { startSidecar } from './fixtures/sidecar-fixture.ts';
import { rootsChangedTo, untilConnected, untilSvidIssuedBy } from './fixtures/sidecar-waits.ts';

// Issue 7: the control plane killed between prepare and activate resumes cleanly when restarted, and a sidecar that
// was cut off while the rotation was prepared converges when it is back; all driven through the CLI.

const TD = 'example.org';
const API = `spiffe://${TD}/ns/prod/sa/api`;
const env: Record<string, string | undefined> = Object.fromEntries(
  Object.keys(process.env)
    .filter((k) => k.startsWith('SIGIL_'))
    .map((k) => [k, undefined]),
);
env['SIGIL_CA_PASSPHRASE'] = 'rotation restart test passphrase';

async function cli(t: Test, cwd: string, args: string[], expectCode = 0): Promise<string> {
  const r = await runSigil(args, { env, cwd });
  t.equal(
    r.code,
    expectCode,
    `sigil ${args.slice(0, 3).join(' ')} exits ${expectCode}${r.code === expectCode ? '' : `: ${r.stderr}`}`,
  );
  return expectCode === 0 ? r.stdout : r.stderr;
}

const json = async <T>(t: Test, cwd: string, args: string[]) => JSON.parse(await cli(t, cwd, [...args, '--json'])) as T;

interface CaShow {
  phase: string;
  bundleSequence: number;
  bundle: { serial: string }[];
  next?: { intermediate: { serial: string } };
  current: { intermediate: { serial: string } };
}

t.test('control plane killed between prepare and activate; sidecar offline during prepare', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-rot-'));
  const nats = await startNatsServer();
  const children: Child[] = [];
  t.teardown(async () => {
    for (const c of children) await c.stop();
    await nats.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await cli(t, dir, ['ca', 'init', '--trust-domain', TD, '--data-dir', 'data']);
  const grpcPort = await freePort();
  await writeFile(
    join(dir, 'cp.yaml'),
    `dataDir: ./data\nlisten: { grpc: 127.0.0.1:${grpcPort}, http: 127.0.0.1:0 }\nnats: { servers: ["${nats.url}"] }\n`,
  );
  const startCp = async () => {
    const child = sigil(['control-plane', 'run', '--config', 'cp.yaml'], { env, cwd: dir });
    children.push(child);
    await child.waitForMessage('control plane started');
    return child;
  };
  const first = await startCp();
  const bootstrap = await readFile(join(dir, 'data', 'bundle.pem'), 'utf8');
  const cp = {
    grpcAddress: `127.0.0.1:${grpcPort}`,
    dataDir: dir,
    bundlePem: bootstrap,
    createToken: async (spiffeId: string) =>
      (await json<{ token: string }>(t, dir, ['token', 'create', '--data-dir', 'data', '--spiffe-id', spiffeId])).token,
  };
  const api = await startSidecar(cp, { spiffeId: API, natsServers: [nats.url], trustRefreshInterval: '1h' });
  t.teardown(api.stop);
  await untilConnected(api.sidecar);
  const before = await json<CaShow>(t, dir, ['ca', 'show', '--data-dir', 'data']);
  t.equal(before.phase, 'stable');
  // Bad requests are refused with what to do instead, and change nothing.
  t.match(
    await cli(t, dir, ['ca', 'rotate', 'retire', '--data-dir', 'data'], 1),
    /the CA is stable; start with sigil ca rotate prepare \[SIGIL_ERR_CA_ROTATION_STATE\]/,
  );
  t.match(await cli(t, dir, ['ca', 'rotate', 'activate', '--data-dir', 'data'], 1), /SIGIL_ERR_CA_ROTATION_STATE/);
  t.match(await cli(t, dir, ['rotate', '--data-dir', 'data'], 1), /name exactly one rotation target/);
  t.match(
    await cli(t, dir, ['rotate', '--data-dir', 'data', '--prefix', 'spiffe://other.org/ns/'], 1),
    /trust domain "other.org"/,
  );
  t.match(
    await cli(t, dir, ['rotate', '--data-dir', 'data', '--all', '--within', 'soon'], 1),
    /SIGIL_ERR_DURATION_INVALID/,
  );
  t.match(await cli(t, dir, ['rotate', 'status', '--data-dir', 'data'], 1), /no rotation has been ordered yet/);
  t.match(
    await cli(t, dir, ['ca', 'rotate', 'prepare', '--data-dir', 'data', '--root-key', 'x.key'], 1),
    /needs --intermediate-only/,
  );
  t.equal((await json<CaShow>(t, dir, ['ca', 'show', '--data-dir', 'data'])).phase, 'stable', 'still stable');

  // The sidecar is cut off from events while the rotation is prepared; its hourly gRPC refresh will not save it.
  await nats.stop();
  const prepared = await json<CaShow>(t, dir, ['ca', 'rotate', 'prepare', '--data-dir', 'data']);
  t.equal(prepared.phase, 'prepared');
  t.equal(prepared.bundle.length, 2);
  t.equal(api.sidecar.trust.bundle?.roots.length, 1, 'the cut-off sidecar has not heard of the new root');

  // Killed without a chance to clean up, then started again on the same data dir.
  first.process.kill('SIGKILL');
  await first.exited;
  await startCp();
  const resumed = await json<CaShow>(t, dir, ['ca', 'show', '--data-dir', 'data']);
  t.equal(resumed.phase, 'prepared', 'the restarted control plane resumes the prepared rotation');
  t.same(
    resumed.bundle.map((r) => r.serial),
    prepared.bundle.map((r) => r.serial),
    'with the same bundle',
  );
  t.equal(resumed.bundleSequence, prepared.bundleSequence, 'and the same bundle sequence');
  const doctor = await json<{ severity: string; check: string; message: string }[]>(t, dir, [
    'check',
    '--data-dir',
    'data',
  ]);
  t.match(
    doctor.find((f) => f.check === 'CA rotation'),
    { severity: 'ok', message: /prepared; next: sigil ca rotate activate/ },
    'sigil check reports the rotation in progress',
  );
  t.equal(
    doctor.filter((f) => f.check.endsWith('expiry')).length,
    4,
    'it checks the expiry of the CA in force and the prepared one',
  );
  t.ok(
    doctor.some((f) => f.check === 'CA rotation schedule'),
    'and shows the next automatic step',
  );

  // Back on NATS: the reconnect fetches the full state, and the new root arrives.
  await nats.restart();
  await rootsChangedTo(api.sidecar, 2);
  t.pass('the sidecar converged on the two-root bundle after its outage');

  const serialBefore = api.sidecar.credentials.current?.material.serial;
  t.match(
    await cli(t, dir, ['ca', 'rotate', 'activate', '--data-dir', 'data'], 1),
    /caRotation\.propagation\), or pass --force/,
    'too soon after prepare without --force',
  );
  const activated = await json<CaShow & { orderId: string }>(t, dir, [
    'ca',
    'rotate',
    'activate',
    '--data-dir',
    'data',
    '--within',
    '2s',
    '--force',
  ]);
  t.equal(activated.phase, 'activated');
  const newIntermediate = activated.current.intermediate.serial;
  t.equal(newIntermediate, prepared.next?.intermediate.serial, 'the prepared intermediate is the one activated');
  const renewed = await untilSvidIssuedBy(api.sidecar, newIntermediate);
  t.not(renewed.serial, serialBefore, 'the sidecar renewed under the new intermediate without a restart');
  const status = await json<{ rotated: string[]; targets: string[] }>(t, dir, [
    'rotate',
    'status',
    '--data-dir',
    'data',
    '--order',
    activated.orderId,
  ]);
  t.same(status.targets, [API]);
  t.same(status.rotated, [API]);

  const retired = await json<CaShow>(t, dir, ['ca', 'rotate', 'retire', '--data-dir', 'data']);
  t.equal(retired.phase, 'stable');
  t.equal(retired.bundle.length, 1);
  await rootsChangedTo(api.sidecar, 1);
  t.pass('the retired root left the sidecar bundle too');
});

t.test(
  'an offline root through the CLI: the new root key goes to a file claimed before anything changes',
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'sigil-rot-offline-'));
    const children: Child[] = [];
    t.teardown(async () => {
      for (const c of children) await c.stop();
      await rm(dir, { recursive: true, force: true });
    });
    await cli(t, dir, ['ca', 'init', '--trust-domain', TD, '--data-dir', 'data', '--offline-root', 'offline']);
    t.notOk(existsSync(join(dir, 'data', 'root.key')), 'no root key in the data dir');
    await writeFile(join(dir, 'cp.yaml'), 'dataDir: ./data\nlisten: { grpc: 127.0.0.1:0, http: 127.0.0.1:0 }\n');
    const child = sigil(['control-plane', 'run', '--config', 'cp.yaml'], { env, cwd: dir });
    children.push(child);
    await child.waitForMessage('control plane started');
    const phase = async () => (await json<CaShow>(t, dir, ['ca', 'show', '--data-dir', 'data'])).phase;

    t.match(
      await cli(t, dir, ['ca', 'rotate', 'prepare', '--data-dir', 'data'], 1),
      /root key is kept offline: pass --root-key-out FILE/,
    );
    t.match(
      await cli(t, dir, ['ca', 'rotate', 'prepare', '--data-dir', 'data', '--root-key-out', 'offline/root.key'], 1),
      /already exists: refusing to overwrite it/,
      'an existing key file is never replaced',
    );
    t.match(
      await cli(t, dir, ['ca', 'rotate', 'prepare', '--data-dir', 'data', '--intermediate-only'], 1),
      /root key is offline: pass it with --root-key/,
    );
    t.equal(await phase(), 'stable', 'the refusals changed nothing');
    t.notOk(existsSync(join(dir, 'offline', 'next.key')));

    const prepared = await json<CaShow>(t, dir, [
      'ca',
      'rotate',
      'prepare',
      '--data-dir',
      'data',
      '--root-key-out',
      'offline/next.key',
    ]);
    t.equal(prepared.phase, 'prepared');
    t.equal((await stat(join(dir, 'offline', 'next.key'))).mode & 0o777, 0o600, 'the new root key is private');
    t.match(await readFile(join(dir, 'offline', 'next.key'), 'utf8'), /BEGIN ENCRYPTED PRIVATE KEY/, 'and encrypted');
    const meta = JSON.parse(await readFile(join(dir, 'data', 'ca.json'), 'utf8')) as {
      next: { rootKey: string; rootKeyOffline: boolean };
    };
    t.equal(meta.next.rootKeyOffline, true);
    t.notOk(existsSync(join(dir, 'data', meta.next.rootKey)), 'the control plane kept no copy');
  },
);
