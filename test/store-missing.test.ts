import t from 'tap';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode } from '../common/errors.ts';
import { silentLogger } from '../common/logger.ts';
import { ControlPlane, resolveControlPlaneConfig } from '../control-plane/index.ts';
import { startControlPlane, TEST_PASSPHRASE } from './fixtures/control-plane-fixture.ts';

/** A control plane on the fixture's data dir (the CA was initialised and has run with its store once). */
function controlPlaneOn(dataDir: string, initStore = false): ControlPlane {
  const config = resolveControlPlaneConfig({
    env: { SIGIL_LISTEN_GRPC: '127.0.0.1:0', SIGIL_LISTEN_HTTP: '127.0.0.1:0', SIGIL_POLICY_DEFAULT_ACTION: 'allow' },
    flags: { dataDir },
    cwd: dataDir,
  });
  return new ControlPlane({ config, passphrase: TEST_PASSPHRASE, initStore }, { logger: silentLogger() });
}

t.test('a CA that has run with a store refuses a missing or empty one unless --init-store', async (t) => {
  const first = await startControlPlane();
  const { dataDir } = first;
  const db = join(dataDir, 'sigil.db');
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const serial = (await first.admin.listCertificates({})).certificates[0]?.serial;
  await first.controlPlane.stop();
  first.admin.close();
  t.match(await readFile(join(dataDir, 'store-id'), 'utf8'), /^[0-9a-f-]{36}\n$/, 'the data dir remembers the store');

  const again = controlPlaneOn(dataDir);
  await again.start();
  await again.stop();
  t.pass('the same store starts again');

  for (const file of ['sigil.db', 'sigil.db-wal', 'sigil.db-shm']) await rm(join(dataDir, file), { force: true });
  await t.rejects(controlPlaneOn(dataDir).start(), {
    code: ErrorCode.STORE_MISSING,
    message: new RegExp(`the store ${db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not exist.*--init-store`),
  });
  await t.rejects(stat(db), { code: 'ENOENT' }, 'the refusal created no file');

  await writeFile(db, '');
  await t.rejects(controlPlaneOn(dataDir).start(), { code: ErrorCode.STORE_MISSING, message: /is empty/ });
  t.equal((await stat(db)).size, 0, 'the empty file was left alone');

  const fresh = controlPlaneOn(dataDir, true);
  const addresses = await fresh.start();
  t.ok(addresses.grpc.port > 0, '--init-store starts a new, empty store on purpose');
  await fresh.stop();
  t.ok(serial, 'there was an inventory before');
  const after = controlPlaneOn(dataDir);
  await after.start();
  await after.stop();
  t.pass('the new store is the one the data dir remembers now');
});
