import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pidsWithEnv } from '../../test/fixtures/environ.ts';
import { run } from '../../test/fixtures/processes.ts';
import { STATE_DIR_ENV } from './demo/processes.ts';

const demo = join(dirname(fileURLToPath(import.meta.url)), 'demo.ts');

// Issue 22: without NATS the demo still runs to the end and shows the gRPC fallback (found or not is decided by
// findNatsServer, tested in demo/commands.test.ts; Debian's /usr/sbin/nats-server is found whatever PATH says, so
// this run asks for the fallback with --no-nats).
t.test('npm run demo -- --no-nats: the gRPC fallback, measured, exit 0, nothing left running', async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'sigil-demo-fallback-'));
  t.teardown(async () => {
    for (const pid of pidsWithEnv(STATE_DIR_ENV, stateDir)) process.kill(pid, 'SIGKILL');
    await rm(stateDir, { recursive: true, force: true });
  });
  const r = await run(process.execPath, [demo, '--no-nats', '--state-dir', stateDir], {
    env: { PATH: '/usr/bin:/bin' },
  });
  t.equal(r.code, 0, `exit code 0${r.code === 0 ? '' : `; stderr: ${r.stderr}\n${r.stdout}`}`);
  t.match(r.stdout, /showing the gRPC fallback, sidecars fetching the full state every 2s/);
  t.notMatch(r.stdout, /\$ nats-server/, 'no nats-server started');
  t.notMatch(r.stdout, /servers: \["nats:/, 'no configuration names NATS');
  t.match(r.stdout, /policy version 1 \(grpc\)/, 'the policy came by the gRPC refresh');
  t.match(r.stdout, /measured in this run \(gRPC refresh\)/);
  t.match(r.stdout, /revocation enforced on the api sidecar after `revoke` \(fetched by the gRPC refresh\) +\d+ ms/);
  t.match(r.stdout, /calls through the CA rotation +[1-9]\d* made, 0 failed/);
  t.match(r.stdout, /demo finished: every step behaved as expected/);
  t.same(pidsWithEnv(STATE_DIR_ENV, stateDir), [], 'every process of the demo stopped');
});
