// npm run demo: a whole mesh in one process — control plane, two services, two sidecars — then calls through it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { connect as netConnect } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { formatHostPort } from '../../common/address.ts';
import { silentLogger } from '../../common/logger.ts';
import { AdminApi, ControlPlane, initCa, resolveControlPlaneConfig } from '../../control-plane/index.ts';
import { Sidecar, parseSidecarConfig } from '../../sidecar/index.ts';
import { startApi } from './api.ts';
import { callThrough, startWeb } from './web.ts';
import { startJwtApi } from './jwt-api.ts';
import { WorkloadApiClient } from '../../sidecar/workload-api-client.ts';

const TRUST_DOMAIN = 'demo.sigil.local';
const API_ID = `spiffe://${TRUST_DOMAIN}/ns/demo/sa/api`;
const WEB_ID = `spiffe://${TRUST_DOMAIN}/ns/demo/sa/web`;
const BATCH_ID = `spiffe://${TRUST_DOMAIN}/ns/batch/sa/report`;
const PASSPHRASE = 'demo passphrase: use SIGIL_CA_PASSPHRASE or a file for real CAs';

function policyYaml(name: string, callers: readonly string[]): string {
  return [
    'apiVersion: sigil.dev/v1',
    'kind: AllowPolicy',
    `metadata: { name: ${name} }`,
    'spec:',
    `  destination: ${API_ID}`,
    '  allow:',
    ...callers.map((c) => `    - from: ${c}`),
  ].join('\n');
}

/** The first certificate of concatenated DER certificates (the Workload API sends the chain that way). */
function firstDer(chain: Uint8Array): Buffer {
  const bytes = Buffer.from(chain);
  // A certificate is one DER SEQUENCE with a two-byte length (0x30 0x82 hi lo).
  return bytes.subarray(0, 4 + bytes.readUInt16BE(2));
}

const say = (text: string) => process.stdout.write(`${text}\n`);
const step = (n: number, text: string) => say(`\n[${n}] ${text}`);

/** Collects the sidecar's JSON log lines so the demo can show what the api sidecar saw. */
function capturingLogger(lines: Record<string, unknown>[]) {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return pino({ level: 'debug' }, sink);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-demo-'));
  const cleanups: (() => Promise<unknown> | unknown)[] = [() => rm(dir, { recursive: true, force: true })];
  try {
    step(1, `sigil ca init: a CA for trust domain ${TRUST_DOMAIN} in ${dir}`);
    const ca = await initCa({
      dataDir: dir,
      trustDomain: TRUST_DOMAIN,
      keyType: 'ec-p256',
      passphrase: PASSPHRASE,
      now: Date.now(),
    });
    say(`    root ${ca.issued.root.serial}, intermediate ${ca.issued.intermediate.serial}`);

    step(2, 'control plane: gRPC Identity + Admin API, SQLite inventory');
    const config = resolveControlPlaneConfig({
      env: { SIGIL_LISTEN_GRPC: '127.0.0.1:0', SIGIL_LISTEN_HTTP: '127.0.0.1:0' },
      flags: { dataDir: dir },
      cwd: dir,
    });
    const controlPlane = new ControlPlane({ config, passphrase: PASSPHRASE }, { logger: silentLogger() });
    const cpAddresses = await controlPlane.start();
    cleanups.unshift(() => controlPlane.stop());
    const cpAddress = formatHostPort(cpAddresses.grpc);
    let admin = new AdminApi({ address: cpAddress, credentialsDir: join(dir, 'admin') });
    cleanups.unshift(() => admin.close());
    say(`    listening on ${cpAddress}`);
    const firstPolicy = await admin.applyPolicies({
      yaml: policyYaml('web-to-api', [WEB_ID]),
      source: 'web-to-api.yaml',
      dryRun: false,
    });
    say(
      `    sigil policy apply: version ${firstPolicy.version}, ${API_ID} accepts ${WEB_ID} (everything else: default deny)`,
    );

    step(3, 'the api service (plain HTTP) and its sidecar (mTLS inbound)');
    const api = await startApi({ port: 0 });
    cleanups.unshift(() => new Promise((r) => api.close(r)));
    const apiPort = (api.address() as { port: number }).port;
    const apiLogs: Record<string, unknown>[] = [];
    const apiToken = (await admin.createJoinToken({ spiffeId: API_ID, ttlSeconds: 300, uses: 1 })).token;
    const apiSidecar = new Sidecar(
      {
        config: parseSidecarConfig(
          [
            `spiffeId: ${API_ID}`,
            `controlPlane: { address: "${cpAddress}", bundle: bundle.pem }`,
            'inbound:',
            `  - { listen: "127.0.0.1:0", forward: "127.0.0.1:${apiPort}" }`,
            'admin: { listen: "127.0.0.1:0" }',
            // The SPIFFE Workload API for the api service's own code (step 6).
            `workloadApi: { socket: "${join(dir, 'api-workload.sock')}", mode: "0600" }`,
            // Demo setting: without NATS, the full state is fetched every second (the default is 60 s).
            'trustRefreshInterval: 1s',
          ].join('\n'),
          join(dir, 'api-sidecar.yaml'),
        ),
        bootstrapBundlePem: ca.issued.root.pem,
        joinToken: () => apiToken,
      },
      { logger: capturingLogger(apiLogs) },
    );
    const apiAddresses = await apiSidecar.start();
    cleanups.unshift(() => apiSidecar.stop(1_000));
    const apiInbound = apiAddresses.inbound[0]!;
    const apiSvid = apiSidecar.credentials.current!.material;
    say(
      `    ${API_ID}\n      SVID serial ${apiSvid.serial}, valid until ${new Date(apiSvid.notAfter).toISOString()}, inbound on ${formatHostPort(apiInbound)}`,
    );

    step(4, 'the web service and its sidecar (outbound to api, expecting the api identity)');
    const webToken = (await admin.createJoinToken({ spiffeId: WEB_ID, ttlSeconds: 300, uses: 1 })).token;
    const webSidecar = new Sidecar(
      {
        config: parseSidecarConfig(
          [
            `spiffeId: ${WEB_ID}`,
            `controlPlane: { address: "${cpAddress}", bundle: bundle.pem }`,
            'outbound:',
            `  - { listen: "127.0.0.1:0", upstream: "${formatHostPort(apiInbound)}", expect: ${API_ID} }`,
            'admin: { listen: "127.0.0.1:0" }',
            `workloadApi: { socket: "${join(dir, 'web-workload.sock')}", mode: "0600" }`,
            'trustRefreshInterval: 1s',
          ].join('\n'),
          join(dir, 'web-sidecar.yaml'),
        ),
        bootstrapBundlePem: ca.issued.root.pem,
        joinToken: () => webToken,
      },
      { logger: silentLogger() },
    );
    const webAddresses = await webSidecar.start();
    cleanups.unshift(() => webSidecar.stop(1_000));
    const webOutbound = webAddresses.outbound[0]!;
    const web = await startWeb({ port: 0, apiVia: webOutbound });
    cleanups.unshift(() => new Promise((r) => web.close(r)));
    const webSvid = webSidecar.credentials.current!.material;
    say(`    ${WEB_ID}\n      SVID serial ${webSvid.serial}, outbound on ${formatHostPort(webOutbound)}`);

    step(5, 'web calls api: web → web sidecar (mTLS origin) → api sidecar (mTLS termination) → api');
    const reply = await callThrough({ host: '127.0.0.1', port: (web.address() as { port: number }).port }, '/call');
    say(`    HTTP ${reply.status} ${reply.body.trim()}`);
    const seen = apiLogs.find((l) => l['msg'] === 'connection opened');
    say(
      `    api's sidecar authenticated the caller as ${String(seen?.['peer'] ?? 'unknown')} (serial ${String(seen?.['serial'] ?? '?')})`,
    );
    if (reply.status !== 200 || seen?.['peer'] !== WEB_ID)
      throw new Error('the allowed call did not go through as expected');

    step(6, 'SPIFFE Workload API: web reads its own SVID, then calls a plain-HTTP api endpoint with a JWT-SVID');
    const webWorkload = new WorkloadApiClient({ socketPath: join(dir, 'web-workload.sock') });
    cleanups.unshift(() => webWorkload.close());
    const appSvid = await webWorkload.fetchX509Svid();
    const appLeaf = new X509Certificate(firstDer(appSvid.chainDer));
    say(
      `    FetchX509SVID: ${appSvid.spiffeId}, serial ${appLeaf.serialNumber.toLowerCase()} (its own key; the proxy's is ${webSvid.serial})`,
    );
    const jwtApi = await startJwtApi({ socketPath: join(dir, 'api-workload.sock'), audience: API_ID });
    cleanups.unshift(() => new Promise((r) => jwtApi.close(r)));
    const jwtUrl = `http://127.0.0.1:${(jwtApi.address() as { port: number }).port}/jwt`;
    const { token } = await webWorkload.fetchJwtSvid([API_ID]);
    say(`    FetchJWTSVID (audience ${API_ID}): ${token.slice(0, 24)}… (ES256, 5 minutes)`);
    const withToken = await fetch(jwtUrl, { headers: { authorization: `Bearer ${token}` } });
    const withTokenBody = (await withToken.json()) as { caller?: string };
    say(
      `    with the JWT-SVID: HTTP ${withToken.status}, the api's sidecar (ValidateJWTSVID) says the caller is ${withTokenBody.caller}`,
    );
    const forged = `${token.slice(0, token.lastIndexOf('.'))}.${Buffer.alloc(64).toString('base64url')}`;
    const withForged = await fetch(jwtUrl, { headers: { authorization: `Bearer ${forged}` } });
    say(`    with a forged signature: HTTP ${withForged.status}`);
    if (withToken.status !== 200 || withTokenBody.caller !== WEB_ID || withForged.status !== 401)
      throw new Error('the JWT-SVID call did not go as expected');

    step(7, 'a client without a certificate tries the api sidecar directly');
    const refused = await new Promise<string>((resolve) => {
      const socket = tlsConnect({
        ...apiInbound,
        ca: ca.issued.root.pem,
        servername: 'api',
        checkServerIdentity: () => undefined,
      });
      socket.on('secureConnect', () => socket.write('GET / HTTP/1.1\r\nhost: api\r\n\r\n'));
      socket.on('data', () => resolve('answered (unexpected!)'));
      socket.on('error', (err: NodeJS.ErrnoException) => resolve(`refused: ${err.code ?? err.message}`));
      socket.on('close', () => resolve('refused: connection closed'));
    });
    say(`    ${refused}`);
    if (!refused.startsWith('refused')) throw new Error('a client without a certificate got through');

    step(8, `a third caller, ${BATCH_ID}, has no policy allowing it`);
    const batchToken = (await admin.createJoinToken({ spiffeId: BATCH_ID, ttlSeconds: 300, uses: 1 })).token;
    const batchSidecar = new Sidecar(
      {
        config: parseSidecarConfig(
          [
            `spiffeId: ${BATCH_ID}`,
            `controlPlane: { address: "${cpAddress}", bundle: bundle.pem }`,
            'outbound:',
            `  - { listen: "127.0.0.1:0", upstream: "${formatHostPort(apiInbound)}", expect: ${API_ID} }`,
            'admin: { listen: "127.0.0.1:0" }',
            'trustRefreshInterval: 1s',
          ].join('\n'),
          join(dir, 'batch-sidecar.yaml'),
        ),
        bootstrapBundlePem: ca.issued.root.pem,
        joinToken: () => batchToken,
      },
      { logger: silentLogger() },
    );
    const batchOutbound = (await batchSidecar.start()).outbound[0]!;
    cleanups.unshift(() => batchSidecar.stop(1_000));
    const denied = await callThrough(batchOutbound, '/greeting').catch((err: Error) => ({
      status: 0,
      body: err.message,
    }));
    say(`    call from batch: ${denied.status === 0 ? `refused (${denied.body})` : `HTTP ${denied.status}`}`);
    if (denied.status === 200) throw new Error('a caller without a policy got through');
    const why = await admin.explainPolicy({ from: BATCH_ID, to: API_ID, port: 0 });
    say(
      `    sigil policy explain --from ${BATCH_ID} --to ${API_ID}\n      ${why.decision.toUpperCase()}: ${why.explanation}`,
    );
    const policyApplied = new Promise<void>((resolve) => {
      const off = apiSidecar.policy.onChange((compiled) => {
        if (compiled.version >= 2) {
          off();
          resolve();
        }
      });
    });
    const second = await admin.applyPolicies({
      yaml: policyYaml('web-to-api', [WEB_ID, BATCH_ID]),
      source: 'web-to-api.yaml',
      dryRun: false,
    });
    say(`    sigil policy apply (batch added): version ${second.version}, updated ${second.updated.join(', ')}`);
    await policyApplied;
    const allowed = await callThrough(batchOutbound, '/greeting');
    say(`    call from batch, no restart anywhere: HTTP ${allowed.status} ${allowed.body.trim()}`);
    if (allowed.status !== 200) throw new Error('the new policy did not take effect');

    step(9, 'CA rotation without a restart: sigil ca rotate prepare, activate, retire, while web keeps calling api');
    const serialOf = (sidecar: Sidecar) => sidecar.credentials.current!.material.serial;
    const before = { api: serialOf(apiSidecar), web: serialOf(webSidecar), batch: serialOf(batchSidecar) };
    const calls = { ok: 0, failed: 0 };
    let calling = true;
    const callLoop = (async () => {
      while (calling) {
        const r = await callThrough(
          { host: '127.0.0.1', port: (web.address() as { port: number }).port },
          '/call',
        ).catch(() => ({ status: 0 }));
        if (r.status === 200) calls.ok++;
        else calls.failed++;
      }
    })();
    const everySidecar = [apiSidecar, webSidecar, batchSidecar];
    const bundleHas = (count: number) =>
      Promise.all(
        everySidecar.map(
          (sc) =>
            new Promise<void>((resolve) => {
              if (sc.trust.bundle?.roots.length === count) return resolve();
              const off = sc.trust.onChange((b) => {
                if (b.roots.length === count) {
                  off();
                  resolve();
                }
              });
            }),
        ),
      );
    const prepared = await admin.rotateCa({ step: 'prepare' });
    say(
      `    prepare: new root ${prepared.status?.next?.root?.serial} and intermediate ${prepared.status?.next?.intermediate?.serial}; bundle sequence ${prepared.status?.bundleSequence}`,
    );
    await bundleHas(2);
    say('    every sidecar now trusts both roots');
    // After activation every new SVID comes from the new intermediate: a changed serial is the rotation.
    const renewedAll = Promise.all(
      everySidecar.map(
        (sc) =>
          new Promise<void>((resolve) => {
            const first = serialOf(sc);
            const off = sc.credentials.subscribe((c) => {
              if (c.material.serial !== first) {
                off();
                resolve();
              }
            });
          }),
      ),
    );
    // The applications' own SVIDs (Workload API) renew right after their sidecar's; retire waits for them too.
    const workloadSvidsRenewed = Promise.all(
      everySidecar.map(
        (sc) =>
          new Promise<void>((resolve) => {
            const svids = sc.workloadApi?.svids;
            if (!svids) return resolve();
            const off = svids.onChange(() => {
              off();
              resolve();
            });
          }),
      ),
    );
    // --force: the demo has just seen every sidecar take the new root, so it need not wait out caRotation.propagation.
    const activated = await admin.rotateCa({ step: 'activate', windowMs: 2_000, force: true });
    say(
      `    activate: the new intermediate signs; rotation order ${activated.orderId} asks every workload to renew within 2s`,
    );
    await Promise.all([renewedAll, workloadSvidsRenewed]);
    for (const [name, sidecar] of [
      ['api', apiSidecar],
      ['web', webSidecar],
      ['batch', batchSidecar],
    ] as const) {
      say(`      ${name.padEnd(5)} serial ${before[name]} -> ${serialOf(sidecar)}`);
    }
    const retired = await admin.rotateCa({ step: 'retire' });
    if (retired.blockers.length > 0)
      throw new Error(`retire was blocked by ${retired.blockers.map((b) => b.spiffeId).join(', ')}`);
    await bundleHas(1);
    calling = false;
    await callLoop;
    say(`    retire: the old root left every bundle; bundle sequence ${retired.status?.bundleSequence}`);
    say(`    the call loop made ${calls.ok} calls through the rotation, ${calls.failed} failed`);
    if (calls.failed > 0 || calls.ok === 0) throw new Error('calls failed during the CA rotation');
    // The admin credential was re-issued under the new CA; the old one chains to the retired root.
    admin.close();
    admin = new AdminApi({ address: cpAddress, credentialsDir: join(dir, 'admin') });

    step(10, `sigil revoke --spiffe-id ${WEB_ID} --reason keyCompromise, with a connection open`);
    const open = await new Promise<import('node:net').Socket>((resolve, reject) => {
      const s = netConnect({ host: '127.0.0.1', port: webOutbound.port }, () => resolve(s));
      s.once('error', reject);
    });
    const openClosed = new Promise<void>((resolve) => open.once('close', () => resolve()));
    open.on('error', () => {});
    open.write('GET /greeting HTTP/1.1\r\nhost: api\r\nconnection: keep-alive\r\n\r\n');
    await new Promise((resolve) => open.once('data', resolve));
    say('    a keep-alive connection web -> api is open and has been answered');
    const applied = new Promise<void>((resolve) => {
      const off = apiSidecar.revocation.onChange((set) => {
        if (set.isIdentityRevoked(WEB_ID)) {
          off();
          resolve();
        }
      });
    });
    const revoked = await admin.revoke({ spiffeId: WEB_ID, reason: 'keyCompromise' });
    say(`    revoked ${revoked.revokedSerials.length} certificate(s), CRL number ${revoked.crlNumber}`);
    await applied;
    await openClosed;
    say('    the api sidecar applied the revocation and closed the open connection');
    const afterRevoke = await callThrough(
      { host: '127.0.0.1', port: (web.address() as { port: number }).port },
      '/call',
    );
    say(`    the next call: HTTP ${afterRevoke.status} ${afterRevoke.body.trim()}`);
    if (afterRevoke.status === 200) throw new Error('a revoked caller got through');

    step(11, 'inventory (sigil certs list)');
    for (const c of (await admin.listCertificates({ kind: 'svid' })).certificates) {
      say(`    ${c.serial}  ${c.status}  until ${new Date(Number(c.notAfterUnixMs)).toISOString()}  ${c.spiffeId}`);
    }
    say('\ndemo finished: every step behaved as expected');
  } finally {
    for (const cleanup of cleanups) await cleanup();
  }
}

main().then(
  () => {
    process.exitCode = 0;
  },
  (err: unknown) => {
    process.stderr.write(`demo failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
