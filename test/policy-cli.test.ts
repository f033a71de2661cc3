import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CliIo } from '../cli/io.ts';
import { runCli } from '../cli/program.ts';
import { startControlPlane } from './fixtures/control-plane-fixture.ts';

// Issue 20, points 5 and 7: `policy explain` names revocation, refuses what is not a SPIFFE ID, exits 1 on DENY
// (also with --json); `policy get` prints a document `policy apply -f` takes back; a refused file says so first.
const TD = 'example.org';
const API = `spiffe://${TD}/ns/prod/sa/api`;
const WEB = `spiffe://${TD}/ns/prod/sa/web`;

const cp = await startControlPlane({ policyDefaultAction: 'deny' });
t.teardown(() => cp.stop());

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

const policyFile = join(cp.dataDir, 'policy.yaml');
await writeFile(
  policyFile,
  `apiVersion: sigil.dev/v1\nkind: AllowPolicy\nmetadata: { name: web-to-api }\nspec:\n  destination: ${API}\n  allow:\n    - from: ${WEB}\n      ports: [8443]\n`,
);
t.equal((await sigil('policy', 'apply', '-f', policyFile)).code, 0, 'policy applied');

t.test('policy get prints a document that policy apply takes back unchanged', async (t) => {
  const got = await sigil('policy', 'get', 'web-to-api');
  t.equal(got.code, 0, got.stderr);
  t.match(got.stdout, /^apiVersion: sigil\.dev\/v1\nkind: AllowPolicy\n/);
  const again = join(cp.dataDir, 'again.yaml');
  await writeFile(again, got.stdout);
  const applied = await sigil('policy', 'apply', '-f', again);
  t.equal(applied.code, 0, applied.stderr);
  t.match(applied.stdout, /unchanged web-to-api/);
});

t.test('a refused policy file says it was refused, not "no change"', async (t) => {
  const bad = join(cp.dataDir, 'bad.yaml');
  await writeFile(bad, 'apiVersion: sigil.dev/v1\nkind: AllowPolicy\nmetadata: { name: x }\nspec: { allow: [] }\n');
  const r = await sigil('policy', 'apply', '-f', bad);
  t.equal(r.code, 1);
  t.match(r.stdout, /^refused: nothing applied/);
  t.notMatch(r.stdout, /no change/);
});

t.test('explain: ALLOW exits 0, DENY exits 1, also with --json', async (t) => {
  const allowed = await sigil('policy', 'explain', '--from', WEB, '--to', API, '--port', '8443');
  t.equal(allowed.code, 0, allowed.stderr);
  t.match(allowed.stdout, /^ALLOW by policy web-to-api/);
  const denied = await sigil('policy', 'explain', '--from', `spiffe://${TD}/ns/prod/sa/other`, '--to', API);
  t.equal(denied.code, 1);
  t.match(denied.stdout, /^DENY/);
  t.equal(denied.stderr, '', 'the decision is the output, not an error');
  const json = await sigil('policy', 'explain', '--from', `spiffe://${TD}/ns/prod/sa/other`, '--to', API, '--json');
  t.equal(json.code, 1);
  t.equal(JSON.parse(json.stdout).decision, 'deny');
});

t.test('explain refuses what is not a SPIFFE ID', async (t) => {
  for (const from of ['web', 'https://example.org/web', 'spiffe://Example.org/x']) {
    const r = await sigil('policy', 'explain', '--from', from, '--to', API);
    t.equal(r.code, 1, from);
    t.match(r.stderr, /--from .* is not a SPIFFE ID/, from);
    t.equal(r.stdout, '', `${from}: no decision printed`);
  }
});

t.test('explain: a revoked caller is DENY with that reason, whatever the policy allows', async (t) => {
  t.equal((await sigil('revoke', '--spiffe-id', WEB, '--reason', 'keyCompromise')).code, 0);
  const r = await sigil('policy', 'explain', '--from', WEB, '--to', API, '--port', '8443');
  t.equal(r.code, 1);
  t.match(r.stdout, /^DENY/);
  t.match(r.stdout, /is revoked \(keyCompromise\).*sigil unrevoke --spiffe-id/);
  t.equal((await sigil('unrevoke', '--spiffe-id', WEB)).code, 0);
  t.equal((await sigil('policy', 'explain', '--from', WEB, '--to', API, '--port', '8443')).code, 0, 'ALLOW again');
});

t.test('a single oversized policy is refused before it is stored, with what to do (issue 21)', async (t) => {
  const huge = join(cp.dataDir, 'huge.yaml');
  const rules = Array.from({ length: 6000 }, (_, i) => `    - from: spiffe://${TD}/ns/batch/sa/worker-${i}\n`).join('');
  await writeFile(
    huge,
    `apiVersion: sigil.dev/v1\nkind: AllowPolicy\nmetadata: { name: huge }\nspec:\n  destination: ${API}\n  allow:\n${rules}`,
  );
  const r = await sigil('policy', 'apply', '-f', huge);
  t.equal(r.code, 1, r.stderr);
  t.match(r.stdout, /^refused: nothing applied/);
  t.match(
    r.stderr,
    /policy "huge" is \d+ KB, over the 256 KB one policy may take .*split its rules over several policies/,
  );
  const got = await sigil('policy', 'get', 'huge');
  t.not(got.code, 0, 'nothing was stored under that name');
});
