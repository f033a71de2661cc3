// SVIDs issued per second per core through the real service (gRPC Attest: CSR checks + sign + store write), next to
// raw node:crypto signing with the CA's key type, measured in the same run. The control plane runs as a child
// process (`sigil control-plane run`) so its CPU time can be read from /proc apart from the client's.
// Each store engine asked for (`--stores sqlite,postgres`, both by default) gets its own CA and control plane in
// the same run; PostgreSQL is the machine's (`--postgres-url`), in a schema of its own dropped afterwards.
// `--key-store pkcs11` adds a run whose CA keys are in a SoftHSM2 token (issue 16), against the file-key run of the
// same store engine in the same process: the ratio says what signing through PKCS#11 costs.
// Run: `npx node bench/issuance.ts [--n 500] [--seconds 10] [--stores sqlite,postgres] [--postgres-url URL]
// [--key-store file|pkcs11]`.
// The transport's floor is measured in the same run: a grpc-js echo server (bench/lib/grpc-echo-server.ts) answering
// Attest-sized requests with fixed bytes, so what Attest costs above plain gRPC is visible.
// Writes bench/results/issuance.json.
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { checkControlPlaneCertificate, CONTROL_PLANE_CHANNEL_OPTIONS } from '../common/control-plane-identity.ts';
import { makeCsr } from '../common/csr-builder.ts';
import { generateKeyPair } from '../common/key-pair.ts';
import { AdminApi, cryptoKeySigningKey, initCa, Pkcs11Token, Pkcs11Tokens } from '../control-plane/index.ts';
import { IdentityClient } from '../proto/index.ts';
import { GrpcIdentityApi } from '../sidecar/index.ts';
import { processCpuMs } from './lib/process-cpu.ts';
import { ECHO_REQUEST_BYTES, ECHO_RESPONSE_BYTES, measureGrpcFloor } from './lib/grpc-floor.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TD = 'bench.example';
const ID = `spiffe://${TD}/ns/bench/sa/client`;
const PASSPHRASE = 'bench passphrase';
const CONCURRENCY = 8;

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '10' },
    stores: { type: 'string', default: 'sqlite,postgres' },
    'postgres-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    'key-store': { type: 'string', default: 'file' },
  },
});
if (values['key-store'] !== 'file' && values['key-store'] !== 'pkcs11')
  throw new Error(`--key-store: use file or pkcs11, not ${values['key-store']}`);
const WITH_PKCS11 = values['key-store'] === 'pkcs11';
const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const HSM_PIN = '24681357';
type StoreKind = 'sqlite' | 'postgres';
const STORES = values.stores.split(',').map((s) => s.trim()) as StoreKind[];
for (const s of STORES) if (s !== 'sqlite' && s !== 'postgres') throw new Error(`--stores: unknown store ${s}`);
const POSTGRES_URL = values['postgres-url'];
const N = Number(values.n);
const MAX_MS = Number(values.seconds) * 1000;

function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function startControlPlane(
  dir: string,
  schema: string | undefined,
  extraEnv: Record<string, string> = {},
): Promise<{ pid: number; address: string; stop: () => Promise<number | null> }> {
  const store = schema ? `store: { postgres: { url: "${POSTGRES_URL}", schema: ${schema} } }\n` : '';
  writeFileSync(
    join(dir, 'cp.yaml'),
    `dataDir: ./data\nlisten: { grpc: 127.0.0.1:0, http: 127.0.0.1:0 }\nlog: { level: info }\n${store}`,
  );
  const child = spawn(
    process.execPath,
    [join(ROOT, 'cli', 'sigil.ts'), 'control-plane', 'run', '--config', 'cp.yaml'],
    {
      cwd: dir,
      // Issuance is measured flat out from one source: the per-source Attest budget would be the bottleneck.
      env: {
        ...process.env,
        SIGIL_CA_PASSPHRASE: PASSPHRASE,
        SIGIL_LOG_LEVEL: undefined,
        SIGIL_ATTEST_PER_SOURCE_LIMIT: '0',
        ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  // Successful issuance logs nothing at info, so the log costs the benchmark nothing; the bound address comes from it.
  const address = await new Promise<string>((resolveAddress, reject) => {
    let buffered = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      for (const line of buffered.split('\n')) {
        if (line.includes('"control plane started"'))
          resolveAddress(String((JSON.parse(line) as { grpc: string }).grpc));
      }
      buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
    });
    void exited.then((code) => reject(new Error(`control plane exited (${code}) before starting`)));
  });
  return {
    pid: child.pid!,
    address,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Raw ECDSA P-256 signatures (SHA-256) of a 1 KiB payload, for about `ms` of CPU. */
function rawSignBaseline(ms: number): { signs: number; cpuMs: number } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const payload = randomBytes(1024);
  for (let i = 0; i < 200; i++) sign('sha256', payload, privateKey);
  const start = selfCpuMs();
  let signs = 0;
  while (selfCpuMs() - start < ms) {
    for (let i = 0; i < 100; i++) sign('sha256', payload, privateKey);
    signs += 100;
  }
  return { signs, cpuMs: selfCpuMs() - start };
}

/**
 * Signatures per second (wall, 8 in flight) through the key-store interface the CA signs with: a key in a fresh
 * SoftHSM2 token against a software key, same payload, same run. Isolates what PKCS#11 adds to one signature.
 */
async function keyStoreSignBaseline(ms: number): Promise<{ file: number; pkcs11: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'sigil-bench-sign-'));
  softHsmToken(dir);
  const token = await Pkcs11Token.open({ modulePath: SOFTHSM_MODULE, tokenLabel: 'bench', pin: HSM_PIN });
  try {
    const inToken = (await token.generateKeyPair('ec-p256', 'bench-sign')).key;
    const keys = await generateKeyPair('ec-p256');
    const spki = new Uint8Array(await globalThis.crypto.subtle.exportKey('spki', keys.publicKey));
    const inMemory = cryptoKeySigningKey(keys.privateKey, spki, 'ec-p256', 'bench');
    const payload = randomBytes(1024);
    const rate = async (key: typeof inToken) => {
      for (let i = 0; i < 50; i++) await key.sign(payload, 'SHA-256');
      let signs = 0;
      const start = performance.now();
      const worker = async () => {
        while (performance.now() - start < ms) {
          await key.sign(payload, 'SHA-256');
          signs++;
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      return round((signs * 1000) / (performance.now() - start));
    };
    return { file: await rate(inMemory), pkcs11: await rate(inToken) };
  } finally {
    await token.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

interface StoreMeasure {
  readonly service: {
    issued: number;
    wallMs: number;
    issuedPerSecondWall: number;
    serverCpuMs: number;
    serverCpuMsPerIssuance: number;
    issuedPerSecondPerCore: number;
    clientCpuMsPerIssuance: number;
  };
  readonly serviceNewConnectionPerCall: {
    issued: number;
    issuedPerSecondWall: number;
    serverCpuMsPerIssuance: number;
    issuedPerSecondPerCore: number;
  };
}

/** A schema of its own in the machine's PostgreSQL, dropped afterwards. */
async function withSchema<T>(use: (schema: string) => Promise<T>): Promise<T> {
  const schema = `sigil_bench_${process.pid}_${randomBytes(3).toString('hex')}`;
  try {
    return await use(schema);
  } finally {
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  }
}

/** A SoftHSM2 token in `dir` (its own SOFTHSM2_CONF), for a CA whose keys live in PKCS#11. */
function softHsmToken(dir: string): Record<string, string> {
  mkdirSync(join(dir, 'tokens'), { mode: 0o700 });
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const env = { SOFTHSM2_CONF: conf };
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'bench', '--pin', HSM_PIN, '--so-pin', HSM_PIN], {
    env: { ...process.env, ...env },
    stdio: 'ignore',
  });
  process.env.SOFTHSM2_CONF = conf;
  return env;
}

/** One store engine: a fresh CA and control plane, the long-lived channel, then a new connection per call. */
async function measureStore(schema: string | undefined, keyStore: 'file' | 'pkcs11' = 'file'): Promise<StoreMeasure> {
  const dir = mkdtempSync(join(tmpdir(), 'sigil-bench-'));
  const dataDir = join(dir, 'data');
  const hsmEnv = keyStore === 'pkcs11' ? softHsmToken(dir) : undefined;
  const tokens = new Pkcs11Tokens({ pin: HSM_PIN });
  await initCa({
    dataDir,
    trustDomain: TD,
    keyType: 'ec-p256',
    now: Date.now(),
    ...(hsmEnv
      ? { keyStore: { kind: 'pkcs11' as const, module: SOFTHSM_MODULE, token: { label: 'bench' }, tokens } }
      : { passphrase: PASSPHRASE }),
  }).finally(() => tokens.close());
  const cp = await startControlPlane(dir, schema, hsmEnv ? { ...hsmEnv, SIGIL_PKCS11_PIN: HSM_PIN } : {});
  try {
    const bundlePem = readFileSync(join(dataDir, 'bundle.pem'));
    const admin = new AdminApi({ address: cp.address, credentialsDir: join(dataDir, 'admin') });
    const perCallN = Math.max(1, Math.floor(N / 5));
    const { token } = await admin.createJoinToken({ spiffeId: ID, ttlSeconds: 3600, uses: N + perCallN + 20 });
    admin.close();

    // Keys and CSRs are made before measuring: the client's work is not the service's.
    const csrs: Uint8Array[] = [];
    for (let i = 0; i < N + perCallN + 20; i++)
      csrs.push(await makeCsr({ spiffeId: ID, keys: await generateKeyPair('ec-p256') }));

    // One long-lived channel, CONCURRENCY calls in flight: the per-issuance cost without a TLS handshake per call.
    const client = new IdentityClient(
      cp.address,
      credentials.createSsl(bundlePem, null, null, {
        checkServerIdentity: (_h, cert) => checkControlPlaneCertificate(cert.raw, TD),
      }),
      CONTROL_PLANE_CHANNEL_OPTIONS,
    );
    const attest = (csr: Uint8Array) =>
      new Promise<void>((ok, fail) =>
        client.attest({ joinToken: token, csr }, { deadline: Date.now() + 30_000 }, (err: ServiceError | null) =>
          err ? fail(err) : ok(),
        ),
      );
    for (let i = 0; i < 20; i++) await attest(csrs.pop()!); // warm-up: JIT, connection, statement cache
    const serverStart = processCpuMs(cp.pid);
    const clientStart = selfCpuMs();
    const wallStart = performance.now();
    let issued = 0;
    const worker = async () => {
      while (issued < N && performance.now() - wallStart < MAX_MS) {
        issued++;
        await attest(csrs.pop()!);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const wallMs = performance.now() - wallStart;
    const serverMs = processCpuMs(cp.pid) - serverStart;
    const clientMs = selfCpuMs() - clientStart;
    client.close();

    // What a sidecar does: a new client (so a full TLS handshake) per call, one at a time.
    const api = new GrpcIdentityApi({ address: cp.address, bundlePem: () => bundlePem.toString(), trustDomain: TD });
    const perCallServerStart = processCpuMs(cp.pid);
    const perCallWallStart = performance.now();
    let perCallIssued = 0;
    while (perCallIssued < perCallN && performance.now() - perCallWallStart < MAX_MS / 2) {
      await api.attest(token, csrs.pop()!);
      perCallIssued++;
    }
    const perCallWallMs = performance.now() - perCallWallStart;
    const perCallServerMs = processCpuMs(cp.pid) - perCallServerStart;
    return {
      service: {
        issued,
        wallMs: Math.round(wallMs),
        issuedPerSecondWall: round(issued / (wallMs / 1000)),
        serverCpuMs: Math.round(serverMs),
        serverCpuMsPerIssuance: round(serverMs / issued, 3),
        issuedPerSecondPerCore: round((issued * 1000) / serverMs),
        clientCpuMsPerIssuance: round(clientMs / issued, 3),
      },
      serviceNewConnectionPerCall: {
        issued: perCallIssued,
        issuedPerSecondWall: round(perCallIssued / (perCallWallMs / 1000)),
        serverCpuMsPerIssuance: round(perCallServerMs / perCallIssued, 3),
        issuedPerSecondPerCore: round((perCallIssued * 1000) / perCallServerMs),
      },
    };
  } finally {
    const code = await cp.stop();
    rmSync(dir, { recursive: true, force: true });
    if (code !== 0) process.exitCode = 1;
  }
}

async function main(): Promise<void> {
  const stores: Partial<Record<StoreKind, StoreMeasure>> = {};
  for (const store of STORES) {
    stores[store] =
      store === 'postgres' ? await withSchema((schema) => measureStore(schema)) : await measureStore(undefined);
  }
  const first = stores[STORES[0]!]!;
  const pkcs11 = WITH_PKCS11 ? await measureStore(undefined, 'pkcs11') : undefined;
  const sqliteFile = stores.sqlite ?? (pkcs11 ? await measureStore(undefined, 'file') : undefined);
  const raw = rawSignBaseline(2_000);
  const grpcFloor = await measureGrpcFloor({ calls: Math.max(N, 2000), concurrency: CONCURRENCY, maxMs: MAX_MS });
  const keyStoreSigns = WITH_PKCS11 ? await keyStoreSignBaseline(2_000) : undefined;
  const rawSignsPerCoreSecond = (raw.signs * 1000) / raw.cpuMs;
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    openssl: process.versions.openssl,
    caKeyType: 'ec-p256',
    concurrency: CONCURRENCY,
    store: STORES[0],
    // The first store's figures at the top level, as before; every store's under `stores`.
    ...first,
    stores,
    rawSign: {
      algorithm: 'ECDSA P-256 / SHA-256, 1 KiB payload',
      signs: raw.signs,
      cpuMs: Math.round(raw.cpuMs),
      signsPerSecondPerCore: round(rawSignsPerCoreSecond),
      cpuMsPerSign: round(raw.cpuMs / raw.signs, 4),
    },
    ratioRawSignsToIssued: round(rawSignsPerCoreSecond / first.service.issuedPerSecondPerCore, 1),
    grpcFloor: {
      what: `grpc-js unary over TLS, ${ECHO_REQUEST_BYTES} B request, ${ECHO_RESPONSE_BYTES} B fixed response, ${CONCURRENCY} in flight`,
      ...grpcFloor,
    },
    ratioGrpcFloorToIssued: round(grpcFloor.callsPerSecondPerCore / first.service.issuedPerSecondPerCore, 2),
    ...(stores.sqlite && stores.postgres
      ? {
          ratioPostgresToSqlite: {
            issuedPerSecondPerCore: round(
              stores.postgres.service.issuedPerSecondPerCore / stores.sqlite.service.issuedPerSecondPerCore,
              2,
            ),
            issuedPerSecondWall: round(
              stores.postgres.service.issuedPerSecondWall / stores.sqlite.service.issuedPerSecondWall,
              2,
            ),
          },
        }
      : {}),
    ...(pkcs11 && sqliteFile
      ? {
          keyStores: { file: sqliteFile, pkcs11 },
          keyStoreSignsPerSecondWall: keyStoreSigns,
          ratioPkcs11ToFile: {
            issuedPerSecondPerCore: round(
              pkcs11.service.issuedPerSecondPerCore / sqliteFile.service.issuedPerSecondPerCore,
              2,
            ),
            issuedPerSecondWall: round(pkcs11.service.issuedPerSecondWall / sqliteFile.service.issuedPerSecondWall, 2),
          },
        }
      : {}),
  };
  const keyStoreRows =
    pkcs11 && sqliteFile
      ? [
          `| sqlite, CA keys in SoftHSM2 (PKCS#11): gRPC Attest, one channel (server CPU) | ${pkcs11.service.issuedPerSecondPerCore} | ${pkcs11.service.issuedPerSecondWall} | ${pkcs11.service.serverCpuMsPerIssuance} |`,
          `| ratio PKCS#11 : file keys (sqlite, same run) | ${result.ratioPkcs11ToFile?.issuedPerSecondPerCore} : 1 | ${result.ratioPkcs11ToFile?.issuedPerSecondWall} : 1 | |`,
          `| ECDSA P-256 signatures through the key store, file key : SoftHSM2 key | | ${keyStoreSigns?.file} : ${keyStoreSigns?.pkcs11} | |`,
        ]
      : [];
  const rows = Object.entries(stores).flatMap(([store, m]) => [
    `| ${store}: SVID issuance, gRPC Attest, one channel, ${CONCURRENCY} in flight (server CPU) | ${m.service.issuedPerSecondPerCore} | ${m.service.issuedPerSecondWall} | ${m.service.serverCpuMsPerIssuance} |`,
    `| ${store}: SVID issuance, new TLS connection per call (server CPU) | ${m.serviceNewConnectionPerCall.issuedPerSecondPerCore} | ${m.serviceNewConnectionPerCall.issuedPerSecondWall} | ${m.serviceNewConnectionPerCall.serverCpuMsPerIssuance} |`,
  ]);
  const table = [
    '| measure | per second per core | per second (wall) | CPU ms each |',
    '| --- | ---: | ---: | ---: |',
    ...rows,
    ...keyStoreRows,
    `| raw node:crypto ECDSA P-256 sign, 1 KiB | ${result.rawSign.signsPerSecondPerCore} | | ${result.rawSign.cpuMsPerSign} |`,
    `| ratio raw signs : issuances (${STORES[0]}) | ${result.ratioRawSignsToIssued} : 1 | | |`,
    `| transport floor: grpc-js unary echo over TLS, Attest-sized messages, ${CONCURRENCY} in flight (server CPU) | ${grpcFloor.callsPerSecondPerCore} | | ${grpcFloor.cpuMsPerCall} |`,
    `| ratio echo calls : issuances (${STORES[0]}) | ${result.ratioGrpcFloorToIssued} : 1 | | |`,
  ].join('\n');
  process.stdout.write(`${table}\n\nNode ${result.node}, OpenSSL ${result.openssl}\n`);
  const out = join(ROOT, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'issuance.json'), `${JSON.stringify(result, null, 2)}\n`);
}

function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

await main();
