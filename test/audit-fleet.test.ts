import t from 'tap';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CliIo } from '../cli/io.ts';
import { runCli } from '../cli/program.ts';
import { startControlPlane } from './fixtures/control-plane-fixture.ts';
import { startSidecar } from './fixtures/sidecar-fixture.ts';

// Issue 13 items 1 and 2, end to end: a second admin, its actions in `sigil audit list` under its own identity,
// its calls refused (and audited) once revoked, a non-admin's refused call audited, and a sidecar in
// `sigil sidecars list` with current versions that turns stale.
const TD = 'example.org';
const API = `spiffe://${TD}/ns/prod/sa/api`;
const DEFAULT_ADMIN = `spiffe://${TD}/sigil/admin/default`;
const OPS = `spiffe://${TD}/sigil/admin/ops`;

const cp = await startControlPlane({ trustDomain: TD });
t.teardown(() => cp.stop());
// No NATS and a long refresh: the sidecar learns nothing new unless the test makes it, so what it holds is known.
const sidecar = await startSidecar(cp, { spiffeId: API, trustRefreshInterval: '1h' });
t.teardown(() => sidecar.stop());

async function sigil(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: {},
    cwd: cp.dataDir,
  };
  const code = await runCli([...argv, '--data-dir', cp.dataDir, '--control-plane', cp.grpcAddress], io);
  return { code, stdout, stderr };
}

interface AuditRow {
  actor: string;
  action: string;
  target: string;
  result: string;
  requestId: string;
  detail: string | null;
}

async function auditOf(actor: string): Promise<AuditRow[]> {
  const r = await sigil('audit', 'list', '--actor', actor, '--json');
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as AuditRow[];
}

interface FleetRow {
  spiffeId: string;
  instanceId: string;
  sidecarVersion: string | null;
  svidSerial: string;
  bundle: { held: number | null; current: boolean };
  crl: { held: number | null; current: boolean };
  policy: { held: number | null; current: boolean };
  stale: boolean;
}

t.test('the sidecar appears with current versions, then shows stale', async (t) => {
  const listed = await sigil('sidecars', 'list', '--json');
  t.equal(listed.code, 0, listed.stderr);
  const rows = JSON.parse(listed.stdout) as FleetRow[];
  t.equal(rows.length, 1);
  const [row] = rows;
  t.equal(row?.spiffeId, API);
  t.equal(row?.instanceId, sidecar.sidecar.instanceId);
  t.equal(row?.sidecarVersion, '0.1.0');
  t.equal(row?.svidSerial, sidecar.sidecar.credentials.current?.material.serial);
  t.ok(row?.bundle.current && row.crl.current && row.policy.current, JSON.stringify(row));
  t.equal(row?.stale, false);
  const table = await sigil('sidecars', 'list');
  t.match(table.stdout, /SPIFFE ID\s+INSTANCE\s+STATE/);
  t.match(table.stdout, new RegExp(`${API}\\s+\\S+\\s+ok`));

  const tenMinutesOn = new Date(Date.now() + 10 * 60_000);
  const later = await cp.controlPlane.fleet.list({ now: tenMinutesOn });
  t.equal(later[0]?.stale, true, 'stale past the default 5 minutes');
  t.equal((await cp.controlPlane.fleet.list({ now: tenMinutesOn, staleAfterMs: 3_600_000 }))[0]?.stale, false);
  const strict = JSON.parse((await sigil('sidecars', 'list', '--json', '--stale', '1ms')).stdout) as FleetRow[];
  t.equal(strict[0]?.stale, true, '--stale sets the threshold');
});

const opsDir = join(cp.dataDir, 'admins', 'ops');

t.test('a second admin is created with its own credential files, key 0600', async (t) => {
  const created = await sigil('admin', 'create', 'ops');
  t.equal(created.code, 0, created.stderr);
  t.match(created.stdout, new RegExp(`created ${OPS}`));
  t.equal((await stat(join(opsDir, 'key.pem'))).mode & 0o777, 0o600);
  for (const f of ['svid.pem', 'bundle.pem']) t.ok((await stat(join(opsDir, f))).isFile(), f);
  const again = await sigil('admin', 'create', 'ops', '--out', join(cp.dataDir, 'ops-again'));
  t.equal(again.code, 1, 'the name is taken');
  t.match(again.stderr, /admin ops exists/);
  const listed = JSON.parse((await sigil('admin', 'list', '--json')).stdout) as { name: string; status: string }[];
  t.same(
    listed.map((a) => [a.name, a.status]),
    [
      ['default', 'active'],
      ['ops', 'active'],
    ],
  );
  const own = await auditOf(DEFAULT_ADMIN);
  t.ok(
    own.some((e) => e.action === 'admin.create' && e.target === 'ops' && e.result === 'ok'),
    'the creation is audited under the creator',
  );
});

t.test("the second admin's actions appear under its own identity", async (t) => {
  const made = await sigil('token', 'create', '--spiffe-id', `${API}-2`, '--admin-credentials', opsDir);
  t.equal(made.code, 0, made.stderr);
  const entries = await auditOf(OPS);
  const entry = entries.find((e) => e.action === 'token.create');
  t.ok(entry, 'token.create by ops');
  t.equal(entry?.result, 'ok');
  t.match(entry?.target, `${API}-2`);
  t.notMatch(JSON.stringify(entries), made.stdout.match(/jt-[A-Za-z0-9_-]+/)?.[0] ?? 'no token printed', 'no token');
  t.match(entry?.requestId, /^[0-9a-f-]{36}$/);
  t.notOk(
    (await auditOf(DEFAULT_ADMIN)).some((e) => e.target.includes(`${API}-2`)),
    'not attributed to the default admin',
  );
});

t.test('an admin cannot revoke itself; revoking ops makes its calls refused and audited', async (t) => {
  const self = await sigil('admin', 'revoke', 'ops', '--admin-credentials', opsDir);
  t.equal(self.code, 1);
  t.match(self.stderr, /identity making this call/);
  const revoked = await sigil('admin', 'revoke', 'ops');
  t.equal(revoked.code, 0, revoked.stderr);
  const refused = await sigil('token', 'create', '--spiffe-id', `${API}-3`, '--admin-credentials', opsDir);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /unknown or revoked/);
  const readRefused = await sigil('audit', 'list', '--admin-credentials', opsDir);
  t.equal(readRefused.code, 1, 'reading is refused too');
  const entries = await auditOf(OPS);
  t.ok(
    entries.some(
      (e) =>
        e.action === 'token.create' &&
        e.result === 'refused' &&
        e.target === `${API}-3` &&
        e.detail?.startsWith('SIGIL_ERR_PEER_NOT_ADMIN'),
    ),
    'the refused change is audited',
  );
  t.ok(
    entries.some((e) => e.action === 'audit.list' && e.result === 'refused'),
    'the refused read is audited',
  );
  t.ok(
    (await auditOf(DEFAULT_ADMIN)).some((e) => e.action === 'admin.revoke' && e.target === 'ops' && e.result === 'ok'),
  );
  const listed = JSON.parse((await sigil('admin', 'list', '--json')).stdout) as { name: string; status: string }[];
  t.equal(listed.find((a) => a.name === 'ops')?.status, 'revoked');
});

t.test("a workload's refused admin call is audited under its SPIFFE ID", async (t) => {
  const material = sidecar.sidecar.credentials.current?.material;
  if (!material) throw new Error('the sidecar has no SVID');
  const dir = join(cp.dataDir, 'workload-as-admin');
  await mkdir(dir, { mode: 0o700 });
  await writeFile(join(dir, 'svid.pem'), material.certChainPem);
  await writeFile(join(dir, 'key.pem'), material.keyPem, { mode: 0o600 });
  await writeFile(join(dir, 'bundle.pem'), cp.bundlePem);
  const r = await sigil('revoke', '--spiffe-id', `${API}-4`, '--admin-credentials', dir);
  t.equal(r.code, 1);
  t.match(r.stderr, /not an admin identity/);
  const entries = await auditOf(API);
  t.equal(entries.length, 1);
  t.match(entries[0], { action: 'revoke', target: `${API}-4`, result: 'refused' });
});

t.test('the audit list pages and filters by time', async (t) => {
  const all = JSON.parse((await sigil('audit', 'list', '--json')).stdout) as AuditRow[];
  const paged = JSON.parse((await sigil('audit', 'list', '--json', '--limit', '2')).stdout) as AuditRow[];
  t.same(paged, all.slice(0, 2));
  const future = JSON.parse((await sigil('audit', 'list', '--json', '--since', '2999-01-01T00:00Z')).stdout);
  t.same(future, []);
  const bad = await sigil('audit', 'list', '--since', 'yesterday');
  t.equal(bad.code, 1);
  t.match(bad.stderr, /duration/);
});

t.test("after a revocation the sidecar's CRL shows old until it fetches again", async (t) => {
  const rows = JSON.parse((await sigil('sidecars', 'list', '--json', '--stale', '1h')).stdout) as FleetRow[];
  t.equal(rows[0]?.crl.current, false, JSON.stringify(rows[0]));
  t.equal(rows[0]?.bundle.current, true);
  t.equal(rows[0]?.stale, false);
  t.match((await sigil('sidecars', 'list', '--stale', '1h')).stdout, /\(old\)/);
});
