import t from 'tap';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode } from '../common/errors.ts';
import { silentLogger } from '../common/logger.ts';
import { ControlPlane, resolveControlPlaneConfig } from '../control-plane/index.ts';
import { AdminApi } from '../control-plane/api/admin-client.ts';
import { startControlPlane, TEST_PASSPHRASE } from './fixtures/control-plane-fixture.ts';
import { startSidecar } from './fixtures/sidecar-fixture.ts';

/** A control plane on the fixture's data dir (the CA was initialised and has run with its store once). */
function controlPlaneOn(dataDir: string, initStore = false, grpc = '127.0.0.1:0'): ControlPlane {
  const config = resolveControlPlaneConfig({
    env: { SIGIL_LISTEN_GRPC: grpc, SIGIL_LISTEN_HTTP: '127.0.0.1:0', SIGIL_POLICY_DEFAULT_ACTION: 'allow' },
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

t.test(
  'after --init-store, sidecars take the new store epoch and its revocations, though its CRL numbers are lower',
  async (t) => {
    const first = await startControlPlane();
    const { dataDir, grpcAddress } = first;
    t.teardown(() => rm(dataDir, { recursive: true, force: true }));
    const { sidecar, stop } = await startSidecar(first, {
      spiffeId: `spiffe://${first.trustDomain}/ns/epoch/sa/app`,
      trustRefreshInterval: '1s',
    });
    t.teardown(stop);
    const revokedBefore = `spiffe://${first.trustDomain}/ns/epoch/sa/old`;
    for (const n of [1, 2, 3]) await first.admin.revoke({ spiffeId: `${revokedBefore}-${n}`, reason: 'superseded' });
    const held = await new Promise<number>((resolve) => {
      const check = () => sidecar.revocation.set.isRevoked('00', `${revokedBefore}-3`);
      if (check()) return resolve(sidecar.revocation.set.crlNumber);
      const off = sidecar.revocation.onChange(() => {
        if (check()) {
          off();
          resolve(sidecar.revocation.set.crlNumber);
        }
      });
    });
    await first.controlPlane.stop();
    first.admin.close();
    for (const file of ['sigil.db', 'sigil.db-wal', 'sigil.db-shm']) await rm(join(dataDir, file), { force: true });

    const fresh = controlPlaneOn(dataDir, true, grpcAddress);
    await fresh.start();
    t.teardown(() => fresh.stop());
    const admin = new AdminApi({ address: grpcAddress, credentialsDir: join(dataDir, 'admin') });
    t.teardown(() => admin.close());
    const revokedAfter = `spiffe://${first.trustDomain}/ns/epoch/sa/new`;
    const { crlNumber } = await admin.revoke({ spiffeId: revokedAfter, reason: 'keyCompromise' });
    t.ok(Number(crlNumber) < held, `the new store numbers from the start again (${crlNumber} < ${held})`);
    const applied = await new Promise<number>((resolve) => {
      const check = () => sidecar.revocation.set.isRevoked('00', revokedAfter);
      if (check()) return resolve(sidecar.revocation.set.crlNumber);
      const off = sidecar.revocation.onChange(() => {
        if (check()) {
          off();
          resolve(sidecar.revocation.set.crlNumber);
        }
      });
    });
    t.equal(applied, Number(crlNumber), "the sidecar holds the new store's CRL number");
    t.equal(sidecar.revocation.set.isRevoked('00', `${revokedBefore}-3`), false, "and the new store's list alone");
  },
);
