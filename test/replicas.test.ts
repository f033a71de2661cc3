import t, { type Test } from 'tap';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { formatHostPort } from '../common/address.ts';
import { type Clock, systemClock } from '../common/clock.ts';
import { makeCsr } from '../common/csr-builder.ts';
import { ErrorCode, isSigilError } from '../common/errors.ts';
import { generateKeyPair, privateKeyPemOf } from '../common/key-pair.ts';
import { silentLogger } from '../common/logger.ts';
import { derToPem } from '../common/trust-bundle.ts';
import { parseX509Facts } from '../common/x509-facts.ts';
import { X509Crl } from '@peculiar/x509';
import { AdminApi, ControlPlane, initCa, resolveControlPlaneConfig } from '../control-plane/index.ts';
import { runCli } from '../cli/program.ts';
import { GrpcIdentityApi } from '../sidecar/index.ts';
import { TEST_PASSPHRASE } from './fixtures/control-plane-fixture.ts';
import { POSTGRES_URL, TestSchemas } from './fixtures/postgres.ts';

// Several control-plane replicas in this process, sharing one PostgreSQL schema: CA state, sequences, propagation.
const TD = 'example.org';
const API = `spiffe://${TD}/ns/prod/sa/api`;
const schemas = new TestSchemas();
t.teardown(() => schemas.dropSchemas());

interface Replica {
  readonly dataDir: string;
  readonly grpc: string;
  readonly http: string;
  readonly cp: ControlPlane;
  readonly admin: AdminApi;
  stop(): Promise<void>;
}

interface ReplicaOptions {
  readonly schema: string;
  /** Runs sigil ca init in the data dir first (the first replica of a cluster). */
  readonly init?: boolean;
  readonly trustDomain?: string;
  readonly passphrase?: string;
  readonly clock?: Clock;
  readonly configTrustDomain?: string;
}

function config(dataDir: string, o: ReplicaOptions) {
  return resolveControlPlaneConfig({
    file: {
      path: join(dataDir, 'cp.yaml'),
      text: [
        `store: { postgres: { url: "${POSTGRES_URL}", schema: ${o.schema}, pool: 4 } }`,
        'replicas: { leaderPoll: 200ms, reloadInterval: 2s }',
        ...(o.configTrustDomain ? [`trustDomain: ${o.configTrustDomain}`] : []),
      ].join('\n'),
    },
    env: { SIGIL_LISTEN_GRPC: '127.0.0.1:0', SIGIL_LISTEN_HTTP: '127.0.0.1:0', SIGIL_POLICY_DEFAULT_ACTION: 'allow' },
    flags: { dataDir },
    cwd: dataDir,
  });
}

async function startReplica(t: Test, o: ReplicaOptions): Promise<Replica> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sigil-replica-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const passphrase = o.passphrase ?? TEST_PASSPHRASE;
  if (o.init)
    await initCa({ dataDir, trustDomain: o.trustDomain ?? TD, keyType: 'ec-p256', passphrase, now: Date.now() });
  const cp = new ControlPlane(
    { config: config(dataDir, o), passphrase },
    { logger: silentLogger(), ...(o.clock ? { clock: o.clock } : {}) },
  );
  const addresses = await cp.start();
  const grpc = formatHostPort(addresses.grpc);
  const admin = new AdminApi({ address: grpc, credentialsDir: join(dataDir, 'admin') });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    admin.close();
    await cp.stop();
  };
  t.teardown(stop);
  return { dataDir, grpc, http: formatHostPort(addresses.http), cp, admin, stop };
}

async function startError(t: Test, o: ReplicaOptions & { dataDirFrom?: string }): Promise<unknown> {
  return startReplica(t, o).then(
    () => undefined,
    (err: unknown) => err,
  );
}

/** An SVID for API issued through `via`, and its TLS material for calls to any replica. */
async function attest(replica: Replica, via: string) {
  const bundlePem = await readFile(join(replica.dataDir, 'bundle.pem'), 'utf8');
  const identity = new GrpcIdentityApi({ address: via, bundlePem: () => bundlePem, trustDomain: TD });
  const keys = await generateKeyPair('ec-p256');
  const token = (await replica.admin.createJoinToken({ spiffeId: API, ttlSeconds: 0, uses: 0 })).token;
  const issued = await identity.attest(token, await makeCsr({ spiffeId: API, keys }));
  const leaf = parseX509Facts(issued.chain[0]!);
  return {
    serial: leaf.serial,
    material: {
      certChainPem: issued.chain.map(derToPem).join(''),
      keyPem: privateKeyPemOf(keys.privateKey),
      bundlePem,
      spiffeId: API,
      serial: leaf.serial,
      notAfter: leaf.notAfter,
    },
  };
}

/** The certificate a replica's gRPC port presents (read without verifying: the test checks it itself). */
function servingCertificate(address: string): Promise<X509Certificate> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host, port: Number(port), rejectUnauthorized: false, ALPNProtocols: ['h2'], servername: 'sigil' },
      () => {
        const raw = socket.getPeerCertificate().raw;
        socket.destroy();
        resolve(new X509Certificate(raw));
      },
    );
    socket.on('error', reject);
  });
}

/** The JWT-SVID key ids a replica publishes in its SPIFFE bundle (/bundle.json). */
async function jwtKids(replica: Replica): Promise<string[]> {
  const doc = (await (await fetch(`http://${replica.http}/bundle.json`)).json()) as {
    keys: { use: string; kid: string }[];
  };
  return doc.keys.filter((k) => k.use === 'jwt-svid').map((k) => k.kid);
}

const kidOf = (token: string): string =>
  JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()).kid as string;

async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() - started > 15_000) throw new Error(`timed out waiting for ${what}: last ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

t.test('replicas share the CA, the inventory, revocations and policies through PostgreSQL', async (t) => {
  const schema = schemas.newSchema();
  const a = await startReplica(t, { schema, init: true });
  const b = await startReplica(t, { schema });
  t.equal(
    await readFile(join(b.dataDir, 'bundle.pem'), 'utf8'),
    await readFile(join(a.dataDir, 'bundle.pem'), 'utf8'),
    'an empty data dir receives the shared CA',
  );
  t.match(
    await readFile(join(b.dataDir, 'admin', 'key.pem'), 'utf8'),
    /BEGIN PRIVATE KEY/,
    'the admin key is plain on disk again',
  );

  const issuedOnB = await attest(b, b.grpc);
  const listed = await a.admin.listCertificates({ spiffeId: API, expiringWithinSeconds: 0, kind: '' });
  t.ok(
    listed.certificates.some((c) => c.serial === issuedOnB.serial),
    "an SVID issued by B appears in A's certs list",
  );

  const identityA = new GrpcIdentityApi({
    address: a.grpc,
    bundlePem: () => issuedOnB.material.bundlePem,
    trustDomain: TD,
  });
  const caller = await attest(a, a.grpc);
  const revoked = await b.admin.revoke({ serial: issuedOnB.serial, reason: 'keyCompromise' });
  const stateOnA = await eventually(
    () => identityA.fetchTrust(caller.material),
    (s) => s.revocation.revokedSerials.includes(issuedOnB.serial),
    'the revocation made on B to be served by A',
  );
  t.equal(stateOnA.revocation.crlNumber, Number(revoked.crlNumber), 'A serves the CRL number B committed');

  // Two operators apply policies on two replicas at once: two versions, neither lost.
  const policy = (name: string) =>
    `apiVersion: sigil.dev/v1\nkind: AllowPolicy\nmetadata: { name: ${name} }\nspec:\n  destination: ${API}\n  allow:\n    - from: spiffe://${TD}/ns/prod/sa/${name}\n`;
  const [pa, pb] = await Promise.all([
    a.admin.applyPolicies({ yaml: policy('web'), source: 'a.yaml', dryRun: false }),
    b.admin.applyPolicies({ yaml: policy('batch'), source: 'b.yaml', dryRun: false }),
  ]);
  t.same([Number(pa.version), Number(pb.version)].sort(), [1, 2], 'each apply got its own version');
  const onA = await eventually(
    () => a.admin.listPolicies(),
    (set) => Number(set.version) === 2,
    'A to serve version 2',
  );
  t.same(onA.policies.map((p) => p.name).sort(), ['batch', 'web'], 'the later version holds both policies');

  const intermediate = new X509Certificate(await readFile(join(a.dataDir, 'intermediate.pem')));
  for (const r of [a, b]) {
    const served = await servingCertificate(r.grpc);
    t.match(
      served.subjectAltName ?? '',
      `URI:spiffe://${TD}/sigil/control-plane`,
      `${r.grpc} serves as the control plane`,
    );
    t.ok(served.verify(intermediate.publicKey), `${r.grpc}: signed by the shared intermediate`);
  }
});

t.test('a CA rotation prepared on one replica is activated and retired from the others', async (t) => {
  const schema = schemas.newSchema();
  const a = await startReplica(t, { schema, init: true });
  const b = await startReplica(t, { schema });
  const c = await startReplica(t, { schema });
  // One JWT key for the trust domain, made by the first replica and taken by the others from the store.
  const [firstKid] = await jwtKids(a);
  t.same(await jwtKids(b), [firstKid], 'B publishes the JWT key A created, not one of its own');
  const caller = await attest(a, a.grpc);
  const identity = new GrpcIdentityApi({
    address: b.grpc,
    bundlePem: () => readFileSync(join(b.dataDir, 'bundle.pem'), 'utf8'),
    trustDomain: TD,
  });
  const before = await identity.mintJwtSvid(caller.material, ['api']);
  t.equal(kidOf(before.token), firstKid, 'B signs with the shared key');
  const prepared = await a.admin.rotateCa({ step: 'prepare', intermediateOnly: false });
  t.equal(prepared.status?.phase, 'prepared');
  const kidsOnC = await eventually(
    () => jwtKids(c),
    (k) => k.length === 2,
    'C to publish the next JWT key',
  );
  t.equal(kidsOnC[0], firstKid);
  const bundleOnC = await eventually(
    () => c.admin.showCa(),
    (s) => (s.bundle?.length ?? 0) === 2 && s.phase === 'prepared',
    'C to hold both roots',
  );
  t.equal(bundleOnC.bundle?.length, 2);
  const activated = await b.admin.rotateCa({ step: 'activate', force: true, windowMs: 1000 });
  t.equal(activated.status?.phase, 'activated', 'B ran the next step');
  const onA = await eventually(
    () => a.admin.showCa(),
    (s) =>
      s.phase === 'activated' && s.current?.intermediate?.serial === activated.status?.current?.intermediate?.serial,
    'A to sign with the new intermediate',
  );
  t.ok(onA);
  const nextKid = kidsOnC[1];
  await eventually(
    async () => kidOf((await identity.mintJwtSvid(caller.material, ['api'])).token),
    (kid) => kid === nextKid,
    'B to sign JWT-SVIDs with the next key after the activation on B',
  );
  // The caller of these calls is a test identity that never renews: revoked, it does not hold up retire.
  await a.admin.revoke({ serial: caller.serial, reason: 'superseded' });
  const issuedByA = await attest(a, a.grpc);
  const chain = issuedByA.material.certChainPem;
  t.match(chain, /BEGIN CERTIFICATE/, 'A issues under the new intermediate');
  t.equal(
    (await c.admin.getCertificate(issuedByA.serial)).issuerSerial,
    activated.status?.current?.intermediate?.serial,
    'the inventory, read on C, names the new intermediate as issuer',
  );
  // Every replica re-minted its serving SVID under the new intermediate when it learned of the activation.
  const retired = await eventually(
    () => c.admin.rotateCa({ step: 'retire' }),
    (r) => r.blockers.length === 0,
    'retire from C to find no blocker',
  );
  t.equal(retired.status?.phase, 'stable', 'C retired the previous root');
  const onB = await eventually(
    () => b.admin.showCa(),
    (s) => s.phase === 'stable' && (s.bundle?.length ?? 0) === 1,
    'B to serve the one-root bundle',
  );
  t.equal(onB.bundle?.[0]?.serial, activated.status?.current?.root?.serial, 'only the new root is left, on B too');
  t.same(
    await eventually(
      () => jwtKids(a),
      (k) => k.length === 1,
      'A to drop the retired JWT key',
    ),
    [nextKid],
  );
});

t.test('refused at start, with what to do: another passphrase, another CA, another trust domain', async (t) => {
  const schema = schemas.newSchema();
  await startReplica(t, { schema, init: true });
  const cases: [string, ReplicaOptions, ErrorCode, RegExp][] = [
    [
      'a different CA passphrase',
      { schema, passphrase: 'not the passphrase' },
      ErrorCode.CA_PASSPHRASE,
      /every replica must use the passphrase the CA was created with/,
    ],
    [
      'its own CA of another trust domain',
      { schema, init: true, trustDomain: 'other.org' },
      ErrorCode.CONFIG_INVALID,
      /holds the CA of trust domain other\.org, but the store is shared by replicas of example\.org/,
    ],
    [
      'its own CA of the same trust domain',
      { schema, init: true },
      ErrorCode.CONFIG_INVALID,
      /the shared store never had/,
    ],
    [
      'a configuration naming another trust domain',
      { schema, configTrustDomain: 'other.org' },
      ErrorCode.CONFIG_INVALID,
      /trust domain other\.org/,
    ],
  ];
  for (const [name, options, code, message] of cases) {
    const err = await startError(t, options);
    t.ok(isSigilError(err, code), `${name}: ${code} (${(err as Error)?.message})`);
    t.match((err as Error).message, message, `${name}: says what to do`);
    t.notMatch((err as Error).message, /not the passphrase/, `${name}: no secret in the message`);
  }
});

t.test('clocks a few seconds apart: CRL numbers and thisUpdate never go back, tokens work across', async (t) => {
  const schema = schemas.newSchema();
  const ahead: Clock = { now: () => Date.now() + 5_000, setTimer: systemClock.setTimer };
  const behind: Clock = { now: () => Date.now() - 5_000, setTimer: systemClock.setTimer };
  const a = await startReplica(t, { schema, init: true, clock: ahead });
  const b = await startReplica(t, { schema, clock: behind });
  const first = await attest(a, b.grpc);
  const second = await attest(b, a.grpc);
  t.pass('a token made by the replica ahead is accepted by the one behind, and the other way round');
  const crl = async (r: Replica) => {
    const http = formatHostPort(r.cp.addresses.http);
    return new X509Crl(new Uint8Array(await (await fetch(`http://${http}/crl`)).arrayBuffer()));
  };
  const r1 = await a.admin.revoke({ serial: first.serial, reason: 'superseded' });
  const byA = await crl(a);
  const r2 = await b.admin.revoke({ serial: second.serial, reason: 'superseded' });
  t.ok(Number(r2.crlNumber) > Number(r1.crlNumber), 'the replica behind still moves the CRL number on');
  const byB = await crl(b);
  t.equal(byB.entries.length, 2, "B's CRL lists both");
  t.ok(
    byB.thisUpdate.getTime() >= byA.thisUpdate.getTime(),
    `thisUpdate ${byB.thisUpdate.toISOString()} (B, 5 s behind) is not before ${byA.thisUpdate.toISOString()} (A, 5 s ahead)`,
  );
});

t.test('the CLI takes several replicas and goes on to the next when one is down', async (t) => {
  const schema = schemas.newSchema();
  const a = await startReplica(t, { schema, init: true });
  const b = await startReplica(t, { schema });
  const down = b.grpc;
  await b.stop();
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: {},
    cwd: a.dataDir,
  };
  const code = await runCli(
    ['certs', 'list', '--data-dir', a.dataDir, '--control-plane', `${down},${a.grpc}`, '--json'],
    io,
  );
  t.equal(code, 0, `sigil certs list succeeds through the live replica: ${stderr}`);
  t.ok((JSON.parse(stdout) as unknown[]).length > 0, 'and lists the inventory');
  stdout = '';
  const none = await runCli(['certs', 'list', '--data-dir', a.dataDir, '--control-plane', down], io);
  t.equal(none, 1, 'with only the dead one, it fails');
  t.match(stderr, /unreachable/, 'saying the control plane is unreachable');
});
