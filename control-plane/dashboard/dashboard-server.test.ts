import t from 'tap';
import { randomBytes } from 'node:crypto';
import { FakeClock } from '../../common/clock.ts';
import { ADMIN, login, startDashboard } from './dashboard-test-kit.ts';
import { LOGIN_TOKEN_TTL_MS } from './login-tokens.ts';
import { SESSION_IDLE_MS } from './session-codec.ts';

async function csrfOf(base: string, cookie: string): Promise<string> {
  const res = await fetch(`${base}/api/session`, { headers: { cookie } });
  return ((await res.json()) as { csrfToken: string }).csrfToken;
}

const post = (base: string, path: string, cookie: string, body: unknown, csrf?: string) =>
  fetch(`${base}${path}`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json', ...(csrf === undefined ? {} : { 'x-sigil-csrf': csrf }) },
    body: JSON.stringify(body),
  });

t.test('dashboard access', async (t) => {
  const clock = new FakeClock(Date.UTC(2026, 11, 3));
  const key = randomBytes(32);
  const { server, data, audit, base } = await startDashboard(clock, { key });
  t.teardown(() => server.stop());

  await t.test('nothing answers without a session, and each refusal is audited', async (t) => {
    for (const path of ['/', '/inventory', '/assets/app.js', '/api/overview', '/api/events', '/no-such-page']) {
      const before = audit.entries.length;
      const res = await fetch(`${base}${path}`);
      t.equal(res.status, 401, `${path} refused`);
      t.match(res.headers.get('content-security-policy'), /default-src 'none'/, `${path} carries the CSP`);
      t.same(
        audit.entries.slice(before),
        [{ actor: 'anonymous', action: 'dashboard.session', result: 'refused', detail: 'no-session' }].map((e) => ({
          ...e,
          target: path,
          requestId: res.headers.get('x-request-id'),
        })),
      );
    }
    const page = await fetch(`${base}/`, { headers: { accept: 'text/html' } });
    t.match(await page.text(), /sigil dashboard login/, 'a browser gets a page that says how to sign in');
    const posted = await fetch(`${base}/api/revoke`, { method: 'POST', body: '{}' });
    t.equal(posted.status, 401);
    t.equal(data.revoked.length, 0);
  });

  await t.test('a one-time URL signs in once; the cookie is HttpOnly and SameSite=Strict', async (t) => {
    const { url } = server.mintLogin(ADMIN);
    const res = await fetch(url, { redirect: 'manual' });
    t.equal(res.status, 303);
    t.equal(res.headers.get('location'), '/');
    const cookie = res.headers.get('set-cookie') ?? '';
    t.match(cookie, /^sigil_session=s1\..+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=28800$/);
    t.match(audit.entries.at(-1), { actor: ADMIN.spiffeId, action: 'dashboard.login', result: 'ok' });
    const session = await fetch(`${base}/api/session`, { headers: { cookie: cookie.split(';')[0] as string } });
    t.match(await session.json(), { admin: ADMIN.spiffeId, trustDomain: 'example.org' });
    const again = await fetch(url, { redirect: 'manual', headers: { accept: 'text/html' } });
    t.equal(again.status, 401, 'a replayed login URL is refused');
    t.match(await again.text(), /used already/);
    t.match(audit.entries.at(-1), { actor: 'anonymous', action: 'dashboard.login', result: 'refused' });
    t.equal(audit.entries.at(-1)?.detail, 'SIGIL_ERR_TOKEN_USED');
  });

  await t.test('an expired login URL is refused and audited', async (t) => {
    const { url } = server.mintLogin(ADMIN);
    clock.advance(LOGIN_TOKEN_TTL_MS);
    const res = await fetch(url, { redirect: 'manual' });
    t.equal(res.status, 401);
    t.equal(res.headers.get('set-cookie'), null);
    t.equal(audit.entries.at(-1)?.detail, 'SIGIL_ERR_TOKEN_EXPIRED');
    const unknown = await fetch(`${base}/login?token=guess`, { redirect: 'manual' });
    t.equal(unknown.status, 401);
    t.equal(audit.entries.at(-1)?.detail, 'SIGIL_ERR_TOKEN_INVALID');
  });

  await t.test('state changes need the session CSRF token', async (t) => {
    const cookie = await login(server);
    const csrf = await csrfOf(base, cookie);
    const target = { serial: 'ab12', confirm: 'ab12', reason: 'keyCompromise' };
    for (const [name, token] of [
      ['missing', undefined],
      ['forged', 'A'.repeat(csrf.length)],
      ['of another session', await csrfOf(base, await login(server))],
    ] as const) {
      const res = await post(base, '/api/revoke', cookie, target, token);
      t.equal(res.status, 403, `${name} CSRF token refused`);
      t.match(audit.entries.at(-1), { actor: ADMIN.spiffeId, action: 'dashboard.csrf', result: 'refused' });
    }
    t.equal(data.revoked.length, 0, 'nothing was revoked');
    const ok = await post(base, '/api/revoke', cookie, target, csrf);
    t.equal(ok.status, 200);
    t.same(data.revoked, [{ serial: 'ab12', reason: 'keyCompromise' }]);
    t.match(audit.entries.at(-1), {
      actor: ADMIN.spiffeId,
      action: 'revoke',
      target: 'serial ab12',
      result: 'ok',
      requestId: ok.headers.get('x-request-id'),
    });
    const unconfirmed = await post(base, '/api/revoke', cookie, { serial: 'cd34', confirm: 'cd3' }, csrf);
    t.equal(unconfirmed.status, 400, 'a revocation without the typed confirmation is refused');
    const protectedOne = await post(base, '/api/revoke', cookie, { serial: 'protected', confirm: 'protected' }, csrf);
    t.equal(protectedOne.status, 409);
    t.match(audit.entries.at(-1), { action: 'revoke', result: 'refused', detail: 'not that one' });
  });

  await t.test('forged, foreign and idle sessions are refused', async (t) => {
    const cookie = await login(server);
    const [name, value] = cookie.split('=') as [string, string];
    const [v, payload, mac] = value.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const altered = Buffer.from(JSON.stringify({ ...claims, sub: 'spiffe://example.org/sigil/admin/mallory' }));
    const cases: [string, string, string][] = [
      ['altered claims', `${name}=${v}.${altered.toString('base64url')}.${mac}`, 'forged'],
      ['garbage', `${name}=nonsense`, 'malformed'],
    ];
    const other = await startDashboard(clock);
    t.teardown(() => other.server.stop());
    cases.push(['from another control plane', await login(other.server), 'forged']);
    const otherDomain = await startDashboard(clock, { key, trustDomain: 'other.org' });
    t.teardown(() => otherDomain.server.stop());
    cases.push(['from another trust domain under the same key', await login(otherDomain.server), 'foreign']);
    for (const [label, presented, reason] of cases) {
      const res = await fetch(`${base}/api/overview`, { headers: { cookie: presented } });
      t.equal(res.status, 401, `${label}: refused`);
      t.match(await res.json(), { error: { code: reason } });
      t.match(audit.entries.at(-1), { action: 'dashboard.session', result: 'refused', detail: reason });
    }
    const live = await fetch(`${base}/api/overview`, { headers: { cookie } });
    t.equal(live.status, 200, 'the genuine cookie still works');
    clock.advance(SESSION_IDLE_MS + 1);
    const idle = await fetch(`${base}/api/overview`, { headers: { cookie } });
    t.equal(idle.status, 401, 'after 8 h idle the session is over');
    t.match(audit.entries.at(-1), { detail: 'expired' });
  });

  await t.test('signing out ends the session on the server: the same cookie is refused afterwards', async (t) => {
    const cookie = await login(server);
    const other = await login(server);
    const out = await post(base, '/api/logout', cookie, {}, await csrfOf(base, cookie));
    t.equal(out.status, 200);
    t.match(out.headers.get('set-cookie'), /Max-Age=0/, 'the browser is told to forget the cookie');
    const reused = await fetch(`${base}/api/overview`, { headers: { cookie } });
    t.equal(reused.status, 401, 'a copy of the cookie kept after sign-out is refused');
    t.match(audit.entries.at(-1), { actor: ADMIN.spiffeId, result: 'refused', detail: 'signed-out' });
    const still = await fetch(`${base}/api/overview`, { headers: { cookie: other } });
    t.equal(still.status, 200, 'another session of the same admin goes on');
  });

  await t.test('a revoked admin credential ends its sessions and its pending login URLs', async (t) => {
    const cookie = await login(server);
    const pending = server.mintLogin(ADMIN).url;
    data.activeAdmins.delete(ADMIN.serial);
    t.teardown(() => data.activeAdmins.add(ADMIN.serial));
    const res = await fetch(`${base}/api/overview`, { headers: { cookie } });
    t.equal(res.status, 401);
    t.match(audit.entries.at(-1), { actor: ADMIN.spiffeId, result: 'refused', detail: 'admin-revoked' });
    const link = await fetch(pending, { redirect: 'manual' });
    t.equal(link.status, 401);
    t.equal(audit.entries.at(-1)?.detail, 'SIGIL_ERR_PEER_NOT_ADMIN');
  });

  await t.test('live updates arrive as server-sent events', async (t) => {
    const cookie = await login(server);
    const controller = new AbortController();
    const res = await fetch(`${base}/api/events`, { headers: { cookie }, signal: controller.signal });
    t.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    const read = async (until: RegExp) => {
      while (!until.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    };
    await read(/connected/);
    t.match(text, /retry: \d+/);
    data.changed('fleet');
    await read(/event: change/);
    t.match(text, /data: \{"topic":"fleet"\}/);
    controller.abort();
  });
});

t.test('over HTTPS: HSTS on every answer, the cookie Secure with the __Host- prefix', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { request } = await import('node:https');
  const dir = await mkdtemp(join(tmpdir(), 'sigil-dashboard-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
  const clock = new FakeClock(Date.UTC(2026, 11, 3));
  const { server } = await startDashboard(clock, { tls: { certFile, keyFile } });
  t.teardown(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const url = new URL(server.mintLogin(ADMIN).url);
  t.equal(url.protocol, 'https:');
  const headers = await new Promise<Record<string, string | string[] | undefined>>((resolve, reject) => {
    request(url, { rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.headers);
    })
      .on('error', reject)
      .end();
  });
  t.match(headers['strict-transport-security'], /max-age=\d+/);
  t.match(String(headers['set-cookie']), /^__Host-sigil_session=s1\..*; HttpOnly; SameSite=Strict; .*Secure$/);
});
