import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CliIo } from '../cli/io.ts';
import { runCli } from '../cli/program.ts';
import { startControlPlane } from './fixtures/control-plane-fixture.ts';

// Issue 20, point 6: `sigil ca rotate retire` names each blocker with its serial, SPIFFE ID, last renewal and the
// exact command that clears it; once cleared, retire goes through.
const ID = 'spiffe://example.org/ns/tools/sa/one-shot';
const cp = await startControlPlane();
t.teardown(() => cp.stop());

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: {},
    cwd: cp.dataDir,
  };
  const code = await runCli([...argv, '--control-plane', cp.grpcAddress], io);
  return { code, stdout, stderr };
}

t.test('retire lists each blocker with what clears it, and goes through once it is cleared', async (t) => {
  // A workload without a sidecar: its SVID will never renew, so it blocks retire.
  const token = await cp.createToken(ID);
  const out = join(cp.dataDir, 'one-shot');
  const fetched = await cli(
    'svid',
    'fetch',
    '--bundle',
    join(cp.dataDir, 'bundle.pem'),
    '--token',
    token,
    '--spiffe-id',
    ID,
    '--out',
    out,
    '--json',
  );
  t.equal(fetched.code, 0, fetched.stderr);
  // Serials are kept as the hex of their 16 bytes: a first byte below 0x10 keeps its leading zero (1 in 16 runs).
  const serial = new X509Certificate(await readFile(join(out, 'svid.pem'), 'utf8')).serialNumber.toLowerCase();
  for (const step of [['prepare'], ['activate', '--force']]) {
    const r = await cli('ca', 'rotate', ...step, '--data-dir', cp.dataDir);
    t.equal(r.code, 0, `${step[0]}: ${r.stderr}`);
  }

  const blocked = await cli('ca', 'rotate', 'retire', '--data-dir', cp.dataDir, '--json');
  t.equal(blocked.code, 1);
  const { blockers } = JSON.parse(blocked.stdout) as {
    blockers: { serial: string; spiffeId: string; lastRenewal: string; orphaned: boolean; clearedBy: string }[];
  };
  const mine = blockers.find((b) => b.spiffeId === ID);
  t.equal(mine?.serial, serial);
  t.match(mine?.lastRenewal, /^\d{4}-\d\d-\d\dT/);
  t.equal(mine?.orphaned, false, 'just issued: its renewal is not due yet');
  t.match(mine?.clearedBy, new RegExp(`^wait until .*, or sigil rotate --spiffe-id ${ID} --within 5m$`));

  const table = await cli('ca', 'rotate', 'retire', '--data-dir', cp.dataDir);
  t.match(table.stdout, /SERIAL\s+SPIFFE ID\s+KIND\s+LAST RENEWAL\s+CLEARED BY/);
  t.match(table.stdout, new RegExp(`${serial}\\s+${ID}\\s+svid`));
  t.match(table.stderr, /still chain to the previous root .*nothing was changed \[SIGIL_ERR_CA_ROTATION_BLOCKED\]/);

  for (const b of blockers) await cp.admin.revoke({ serial: b.serial, reason: 'superseded' });
  const retired = await cli('ca', 'rotate', 'retire', '--data-dir', cp.dataDir);
  t.equal(retired.code, 0, retired.stderr);
  t.match(retired.stdout, /retired: the previous root left the bundle/);
});
