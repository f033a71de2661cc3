import t from 'tap';
import { chmod, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode } from '../common/errors.ts';
import { silentLogger } from '../common/logger.ts';
import { AdminApi, ControlPlane, resolveControlPlaneConfig } from '../control-plane/index.ts';
import { startControlPlane, TEST_PASSPHRASE } from './fixtures/control-plane-fixture.ts';

// Issue 21 item 11: unsafe modes on the data directory and on private key files are refused at start, and the
// message carries the command that fixes them.

function controlPlaneOn(dataDir: string): ControlPlane {
  const config = resolveControlPlaneConfig({
    env: { SIGIL_LISTEN_GRPC: '127.0.0.1:0', SIGIL_LISTEN_HTTP: '127.0.0.1:0', SIGIL_POLICY_DEFAULT_ACTION: 'allow' },
    flags: { dataDir },
    cwd: dataDir,
  });
  return new ControlPlane({ config, passphrase: TEST_PASSPHRASE }, { logger: silentLogger() });
}

const quote = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

t.test('unsafe data directory and key file modes are refused with the chmod that fixes them', async (t) => {
  const first = await startControlPlane();
  const { dataDir } = first;
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  await first.controlPlane.stop();
  first.admin.close();

  const startsAgain = async (what: string) => {
    const cp = controlPlaneOn(dataDir);
    await cp.start();
    await cp.stop();
    t.pass(what);
  };
  await startsAgain('the data dir as created (0700, keys 0600) starts');

  t.test('a data directory others can write to', async (t) => {
    for (const mode of [0o777, 0o770]) {
      await chmod(dataDir, mode);
      await t.rejects(controlPlaneOn(dataDir).start(), {
        code: ErrorCode.CONFIG_INVALID,
        message: new RegExp(
          `data directory ${quote(dataDir)} has mode 0${mode.toString(8)}.*chmod 0700 ${quote(dataDir)}`,
        ),
      });
    }
    await chmod(dataDir, 0o700);
    await startsAgain('after chmod 0700 it starts');
  });

  for (const [name, mode] of [
    ['intermediate.key', 0o644],
    ['root.key', 0o640],
    ['control-plane/key.pem', 0o604],
    ['admin/key.pem', 0o644],
  ] as const) {
    t.test(`a key file others can read: ${name} ${mode.toString(8)}`, async (t) => {
      const file = join(dataDir, name);
      await chmod(file, mode);
      await t.rejects(controlPlaneOn(dataDir).start(), {
        code: ErrorCode.CONFIG_INVALID,
        message: new RegExp(
          `private key file ${quote(file)} has mode 0${mode.toString(8)}.*0600 or 0400.*chmod 0600 ${quote(file)}`,
        ),
      });
      await chmod(file, 0o400);
      await startsAgain('0400 is accepted');
      await chmod(file, 0o600);
    });
  }

  t.test('the admin client refuses an admin key others can read', async (t) => {
    const file = join(dataDir, 'admin', 'key.pem');
    await chmod(file, 0o640);
    t.throws(() => new AdminApi({ address: '127.0.0.1:1', credentialsDir: join(dataDir, 'admin') }), {
      code: ErrorCode.CONFIG_INVALID,
      message: new RegExp(`chmod 0600 ${quote(file)}`),
    });
    await chmod(file, 0o600);
    new AdminApi({ address: '127.0.0.1:1', credentialsDir: join(dataDir, 'admin') });
    t.pass('with 0600 it is accepted');
  });
});
