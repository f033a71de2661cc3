import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { echoServer, roundTrip, type EchoServer } from '../../test/fixtures/net.ts';
import { makeTestPki, type TestPki } from '../../test/fixtures/cert-factory.ts';
import { ChildProcesses } from '../lib/child-processes.ts';
import { goBinary } from '../lib/go-client-build.ts';
import { GoProxyProcess } from './go-proxy-process.ts';
import type { CredentialFiles } from './protocol.ts';

const SERVER = 'spiffe://example.org/ns/bench/sa/server';
const CLIENT = 'spiffe://example.org/ns/bench/sa/client';

async function svidFiles(pki: TestPki, spiffeId: string, dir: string, name: string): Promise<CredentialFiles> {
  const svid = await pki.issueSvid(spiffeId);
  const files = {
    certChainPath: join(dir, `${name}.pem`),
    keyPath: join(dir, `${name}-key.pem`),
    bundlePath: join(dir, `${name}-bundle.pem`),
  };
  writeFileSync(files.certChainPath, svid.chainPem);
  writeFileSync(files.keyPath, svid.key.keyPem, { mode: 0o600 });
  writeFileSync(files.bundlePath, pki.bundlePem);
  return files;
}

const binary = goBinary('go-proxy');
const dir = mkdtempSync(join(tmpdir(), 'sigil-go-proxy-test-'));
const children = new ChildProcesses();
let app: EchoServer;
let server: CredentialFiles;
let client: CredentialFiles;
let foreignClient: CredentialFiles;

t.before(async () => {
  const pki = await makeTestPki();
  server = await svidFiles(pki, SERVER, dir, 'server');
  client = await svidFiles(pki, CLIENT, dir, 'client');
  foreignClient = await svidFiles(await makeTestPki(), CLIENT, dir, 'foreign');
  app = await echoServer();
});

t.teardown(() => {
  children.dispose();
  app.close();
  rmSync(dir, { recursive: true, force: true });
});

async function pair(t: Test, options: { sessionCache: number; expect?: string; clientCreds?: CredentialFiles }) {
  const inbound = await GoProxyProcess.start(
    { binary, mode: 'inbound', forward: { host: '127.0.0.1', port: app.port }, credentials: server, cpus: undefined },
    children,
  );
  const outbound = await GoProxyProcess.start(
    {
      binary,
      mode: 'outbound',
      forward: inbound.address,
      credentials: options.clientCreds ?? client,
      expect: options.expect ?? SERVER,
      sessionCache: options.sessionCache,
      cpus: undefined,
    },
    children,
  );
  t.teardown(async () => {
    await outbound.stop();
    await inbound.stop();
  });
  return { inbound, outbound };
}

t.test('plain TCP in, mTLS between the proxies, plain TCP to the app; the session cache resumes', async (t) => {
  const { inbound, outbound } = await pair(t, { sessionCache: 4 });
  for (const text of ['one', 'two', 'three']) t.equal(await roundTrip(outbound.address.port, text), text);
  t.same(await outbound.counts(), { handshakes: 3, resumed: 2 }, 'the first full, the next two resumed');
  t.same(await inbound.counts(), { handshakes: 3, resumed: 2 });
});

t.test('without a session cache every connection is a full handshake', async (t) => {
  const { outbound } = await pair(t, { sessionCache: 0 });
  for (const text of ['one', 'two']) t.equal(await roundTrip(outbound.address.port, text), text);
  t.same(await outbound.counts(), { handshakes: 2, resumed: 0 });
});

t.test('the outbound proxy refuses a server that is not the SPIFFE ID it expects', async (t) => {
  const accepted = app.accepted;
  const { outbound } = await pair(t, { sessionCache: 0, expect: 'spiffe://example.org/ns/bench/sa/other' });
  t.equal(await roundTrip(outbound.address.port, 'hello'), '', 'closed without an echo');
  t.same(await outbound.counts(), { handshakes: 0, resumed: 0 });
  t.equal(app.accepted, accepted, 'the app was never reached');
});

t.test('the inbound proxy refuses a client certificate from another trust bundle', async (t) => {
  const accepted = app.accepted;
  const { inbound, outbound } = await pair(t, { sessionCache: 0, clientCreds: foreignClient });
  t.equal(await roundTrip(outbound.address.port, 'hello'), '', 'closed without an echo');
  t.same(await inbound.counts(), { handshakes: 0, resumed: 0 });
  t.equal(app.accepted, accepted, 'the app was never reached');
});

t.test('a bad start fails with the proxy’s own message', async (t) => {
  await t.rejects(
    GoProxyProcess.start(
      {
        binary,
        mode: 'inbound',
        forward: { host: '127.0.0.1', port: app.port },
        credentials: { ...server, keyPath: join(dir, 'missing.pem') },
        cpus: undefined,
      },
      children,
    ),
    { code: 'SIGIL_ERR_UNAVAILABLE', message: /the Go inbound proxy failed to start: .*missing\.pem/ },
  );
});
