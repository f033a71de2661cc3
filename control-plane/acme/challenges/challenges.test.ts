import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { FakeClock } from '../../../common/clock.ts';
import { dns01HookSolver, dnsChallengeName } from './dns01-hook.ts';
import { Http01Listener, webrootSolver } from './http01.ts';
import { ACME_IDENTIFIER_OID, TlsAlpn01Listener, tlsAlpnChallengeCertificate } from './tls-alpn01.ts';

const task = { identifier: 'a.example.test', token: 'tok_en-1', keyAuthorization: 'tok_en-1.thumb' };

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('error', reject).end();
  });
}

t.test('http-01 listener serves exactly the tokens in flight', async (t) => {
  const listener = new Http01Listener();
  const solver = listener.solver();
  await t.rejects(solver.present(task), { code: 'SIGIL_ERR_ACME_CHALLENGE_SETUP' }, 'not listening: a setup error');
  const { port } = await listener.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => listener.close());
  await solver.present(task);
  t.same(await get(port, '/.well-known/acme-challenge/tok_en-1'), { status: 200, body: 'tok_en-1.thumb' });
  t.equal((await get(port, '/.well-known/acme-challenge/other')).status, 404);
  t.equal((await get(port, '/tok_en-1')).status, 404);
  await solver.cleanup(task);
  t.equal((await get(port, '/.well-known/acme-challenge/tok_en-1')).status, 404, 'gone after cleanup');
});

t.test('webroot: the answer file appears and disappears', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'sigil-webroot-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const solver = webrootSolver(root);
  const file = join(root, '.well-known', 'acme-challenge', 'tok_en-1');
  await solver.present(task);
  t.equal(await readFile(file, 'utf8'), 'tok_en-1.thumb');
  t.equal((await stat(file)).mode & 0o777, 0o644, 'readable by the web server');
  await solver.cleanup(task);
  await t.rejects(stat(file), { code: 'ENOENT' });
  await t.rejects(
    solver.present({ ...task, token: '../../etc/passwd' }),
    { code: 'SIGIL_ERR_ACME_PROBLEM' },
    'no traversal',
  );
});

t.test('tls-alpn-01 certificate (RFC 8737 3)', async (t) => {
  const { certPem } = await tlsAlpnChallengeCertificate('a.example.test', task.keyAuthorization);
  const cert = new x509.X509Certificate(certPem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  t.same(san?.names.toJSON(), [{ type: 'dns', value: 'a.example.test' }], 'the one DNS name');
  const ext = cert.extensions.find((e) => e.type === ACME_IDENTIFIER_OID);
  t.equal(ext?.critical, true, 'acmeIdentifier is critical');
  const digest = createHash('sha256').update(task.keyAuthorization).digest();
  t.same(Buffer.from(ext!.value), Buffer.concat([Buffer.from([0x04, 0x20]), digest]), 'OCTET STRING of SHA-256');
});

t.test('tls-alpn-01 listener answers only acme-tls/1 for names in flight', async (t) => {
  const listener = new TlsAlpn01Listener();
  const { port } = await listener.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => listener.close());
  await listener.solver().present(task);
  const handshake = (servername: string, alpn: string[]) =>
    new Promise<{ ok: boolean; protocol?: string | false | null; cn?: string }>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, servername, ALPNProtocols: alpn, rejectUnauthorized: false });
      socket.once('secureConnect', () => {
        resolve({ ok: true, protocol: socket.alpnProtocol, cn: socket.getPeerCertificate().subject?.CN as string });
        socket.destroy();
      });
      socket.once('error', () => resolve({ ok: false }));
    });
  t.same(await handshake('a.example.test', ['acme-tls/1']), { ok: true, protocol: 'acme-tls/1', cn: 'a.example.test' });
  t.same(await handshake('a.example.test', ['http/1.1']), { ok: false }, 'no acme-tls/1: no handshake');
  t.same(await handshake('b.example.test', ['acme-tls/1']), { ok: false }, 'no challenge for the name');
});

t.test('dns-01 hook: arguments, environment, propagation wait and failures', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-hook-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const log = join(dir, 'calls');
  const hook = join(dir, 'hook.sh');
  await writeFile(hook, `#!/bin/sh\necho "$@|$SIGIL_ACME_ACTION|$SIGIL_ACME_DNS_NAME" >> ${log}\n`, { mode: 0o755 });
  const clock = new FakeClock();
  const solver = dns01HookSolver({ command: [hook, 'zone-a'], propagationMs: 30_000, timeoutMs: 5_000 }, { clock });
  let presented = false;
  const presenting = solver.present({ ...task, identifier: '*.example.test' }).then(() => (presented = true));
  await clock.waitForTimers(1);
  t.equal(presented, false, 'waits for propagation');
  clock.advance(30_000);
  await presenting;
  await solver.cleanup(task);
  t.equal(
    await readFile(log, 'utf8'),
    'zone-a present _acme-challenge.example.test. tok_en-1.thumb|present|_acme-challenge.example.test.\n' +
      'zone-a cleanup _acme-challenge.a.example.test. tok_en-1.thumb|cleanup|_acme-challenge.a.example.test.\n',
  );
  t.equal(dnsChallengeName('*.b.example'), '_acme-challenge.b.example.');
  const failing = join(dir, 'fail.sh');
  await writeFile(failing, '#!/bin/sh\necho "zone not found" >&2\nexit 3\n', { mode: 0o755 });
  await t.rejects(
    dns01HookSolver({ command: [failing], propagationMs: 0, timeoutMs: 5_000 }, { clock }).present(task),
    {
      code: 'SIGIL_ERR_ACME_CHALLENGE_SETUP',
      message:
        /failed to present the TXT record _acme-challenge\.a\.example\.test\. for a\.example\.test: exited with status 3 \(zone not found\)/,
    },
  );
  const slow = join(dir, 'slow.sh');
  await writeFile(slow, '#!/bin/sh\nsleep 5\n', { mode: 0o755 });
  await t.rejects(dns01HookSolver({ command: [slow], propagationMs: 0, timeoutMs: 200 }, { clock }).present(task), {
    message: /timed out after 200 ms/,
  });
});
