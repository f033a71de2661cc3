import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CliIo } from '../cli/io.ts';
import { runCli } from '../cli/program.ts';
import { startControlPlane } from './fixtures/control-plane-fixture.ts';
import { type Child, sigil } from './fixtures/processes.ts';

// Issue 20, point 2a: autoscaled replicas attest with one reusable token bound to a path prefix, each naming itself
// under it; tokens are listed (by id, never the token) and revocable. Sidecars are real processes.
const TD = 'example.org';
const PREFIX = `spiffe://${TD}/ns/prod/sa/web`;
const cp = await startControlPlane();
const children: Child[] = [];
t.teardown(async () => {
  for (const c of children) await c.stop();
  await cp.stop();
});

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
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

const config = join(cp.dataDir, 'replica.yaml');
await writeFile(
  config,
  [
    `spiffeId: ${PREFIX}/replica-0`,
    `controlPlane: { address: "${cp.grpcAddress}", bundle: ./bundle.pem }`,
    'joinToken: { file: ./replicas.token }',
    'admin: { listen: 127.0.0.1:0 }',
    'retry: { maxBackoff: 1s }',
  ].join('\n'),
);
const replica = (name: string) => {
  const c = sigil(['sidecar', 'run', '--config', config], {
    env: { SIGIL_SPIFFE_ID: `${PREFIX}/${name}`, SIGIL_LOG_LEVEL: 'info' },
  });
  children.push(c);
  return c;
};

t.test('three replicas share one prefix token with three uses; the fourth and a foreign ID are refused', async (t) => {
  const created = await cli(
    'token',
    'create',
    '--spiffe-id',
    PREFIX,
    '--prefix',
    '--uses',
    '3',
    '--ttl',
    '10m',
    '--json',
  );
  t.equal(created.code, 0, created.stderr);
  const token = JSON.parse(created.stdout) as { token: string; id: string; prefix: boolean };
  t.equal(token.prefix, true);
  await writeFile(join(cp.dataDir, 'replicas.token'), token.token, { mode: 0o600 });

  const outside = sigil(['sidecar', 'run', '--config', config], {
    env: { SIGIL_SPIFFE_ID: `spiffe://${TD}/ns/prod/sa/webhook`, SIGIL_LOG_LEVEL: 'info' },
  });
  children.push(outside);
  const mismatch = await outside.waitFor(
    (l) => l['err_code'] === 'SIGIL_ERR_TOKEN_SPIFFE_ID_MISMATCH',
    'an ID beside the prefix (not under it) refused',
  );
  t.match(mismatch['error'], /bound to the prefix spiffe:\/\/example\.org\/ns\/prod\/sa\/web\//);
  await outside.stop();

  const replicas = ['replica-a', 'replica-b', 'replica-c'].map(replica);
  for (const [i, r] of replicas.entries()) {
    const started = await r.waitForMessage('sidecar started');
    t.equal(started['spiffe_id'], `${PREFIX}/replica-${'abc'[i]}`, 'each replica names itself under the prefix');
  }
  const fourth = replica('replica-d');
  const refused = await fourth.waitFor((l) => l['err_code'] === 'SIGIL_ERR_TOKEN_USED', 'the fourth refused');
  t.match(refused['msg'], /attestation failed/);

  const listed = await cli('token', 'list', '--json');
  t.equal(listed.code, 0, listed.stderr);
  t.match(JSON.parse(listed.stdout), [{ id: token.id, spiffeId: `${PREFIX}/*`, usesRemaining: 0, status: 'used' }]);
  t.notMatch(listed.stdout, new RegExp(token.token), 'the list never shows a token');
});

t.test('a revoked token stops working at once; the list says so', async (t) => {
  const created = await cli('token', 'create', '--spiffe-id', PREFIX, '--prefix', '--uses', '5', '--json');
  const token = JSON.parse(created.stdout) as { token: string; id: string };
  const revoked = await cli('token', 'revoke', token.id);
  t.equal(revoked.code, 0, revoked.stderr);
  t.match(revoked.stdout, new RegExp(`revoked join token ${token.id}`));
  await writeFile(join(cp.dataDir, 'replicas.token'), token.token, { mode: 0o600 });
  const late = replica('replica-e');
  const refused = await late.waitFor((l) => l['err_code'] === 'SIGIL_ERR_TOKEN_INVALID', 'revoked token refused');
  t.match(refused['error'], /was revoked/);
  const listed = JSON.parse((await cli('token', 'list', '--json')).stdout) as { id: string; status: string }[];
  t.equal(listed.find((r) => r.id === token.id)?.status, 'revoked');
  t.equal((await cli('token', 'revoke', 'zzzz')).code, 1, 'a malformed id is refused');
});
