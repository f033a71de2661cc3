import { chmod, lstat, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import t from 'tap';
import { CertificateInstaller, runReload } from './certificate-installer.ts';

const files = (n: string) => ({ keyPem: `KEY ${n}\n`, certPem: `CERT ${n}\n`, chainPem: `CHAIN ${n}\n` });

t.test('versions are staged, switched in one rename and pruned to current + previous', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-install-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'cert.pem'), 'hand-made\n');
  const installer = new CertificateInstaller();
  await installer.stage(dir, 'aa', files('a'));
  t.equal(await installer.current(dir), undefined, 'staging puts nothing in service');
  t.equal(await installer.activate(dir, 'aa'), undefined);
  t.equal(await readFile(join(dir, 'cert.pem'), 'utf8'), 'CERT a\n');
  t.equal(await readFile(join(dir, 'cert.pem.orig'), 'utf8'), 'hand-made\n', 'a pre-existing file is kept aside');
  t.equal(await readFile(join(dir, 'fullchain.pem'), 'utf8'), 'CERT a\nCHAIN a\n');
  t.equal((await stat(join(dir, 'key.pem'))).mode & 0o777, 0o600);
  t.ok((await lstat(join(dir, 'key.pem'))).isSymbolicLink(), 'stable names are links into current');

  await installer.stage(dir, 'bb', files('b'));
  t.equal(await installer.activate(dir, 'bb'), 'aa', 'returns what it replaced');
  t.equal(await readFile(join(dir, 'key.pem'), 'utf8'), 'KEY b\n');
  await installer.stage(dir, 'cc', files('c'));
  await installer.activate(dir, 'cc');
  await installer.prune(dir, ['cc', 'bb']);
  t.same((await readdir(join(dir, 'versions'))).sort(), ['bb', 'cc'], 'current and previous kept');
  await installer.activate(dir, 'bb');
  t.equal(await readlink(join(dir, 'current')), 'versions/bb', 'rollback is the same one rename');
  t.equal(await readFile(join(dir, 'cert.pem'), 'utf8'), 'CERT b\n');
  t.same(
    (await readdir(dir)).filter((n) => n.startsWith('.')),
    [],
    'no temporary links left behind',
  );
});

t.test('an unwritable install directory is reported and changes nothing', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-install-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const installer = new CertificateInstaller();
  await installer.stage(dir, 'aa', files('a'));
  await installer.activate(dir, 'aa');
  await chmod(join(dir, 'versions'), 0o500);
  t.teardown(() => chmod(join(dir, 'versions'), 0o700));
  if (process.getuid?.() === 0) {
    // root writes anyway; staging into a path under a regular file still fails.
    await t.rejects(installer.stage(join(dir, 'cert.pem'), 'bb', files('b')), {
      code: 'SIGIL_ERR_ACME_INSTALL_FAILED',
    });
  } else {
    await t.rejects(installer.stage(dir, 'bb', files('b')), { code: 'SIGIL_ERR_ACME_INSTALL_FAILED' });
  }
  await t.rejects(installer.activate(dir, 'zz'), { code: 'SIGIL_ERR_ACME_INSTALL_FAILED' }, 'unknown version');
  t.equal(await readFile(join(dir, 'cert.pem'), 'utf8'), 'CERT a\n', 'the certificate in service is unchanged');
});

t.test('reload by signal to the process in a pid file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-reload-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const pidFile = join(dir, 'app.pid');
  // A stand-in service that exits 0 on SIGHUP and says when its trap is set.
  const app = spawn('/bin/sh', ['-c', 'trap "exit 0" HUP; echo ready; while :; do sleep 1; done'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  t.teardown(() => app.kill('SIGKILL'));
  await new Promise((resolve) => app.stdout.once('data', resolve));
  const exited = new Promise<number | null>((resolve) => app.once('exit', (code) => resolve(code)));
  await writeFile(pidFile, `${app.pid}\n`);
  await runReload({ signal: 'SIGHUP', pidFile }, { name: 'web', dir, serial: 'aa' });
  t.equal(await exited, 0, 'the process got SIGHUP');
  await writeFile(pidFile, 'not a pid');
  await t.rejects(runReload({ signal: 'SIGHUP', pidFile }, { name: 'web', dir, serial: 'aa' }), {
    code: 'SIGIL_ERR_ACME_RELOAD_FAILED',
    message: /reload hook of web failed: .*does not hold a process id/,
  });
  await t.rejects(runReload({ command: [join(dir, 'missing')], timeout: 1000 }, { name: 'web', dir, serial: 'aa' }), {
    code: 'SIGIL_ERR_ACME_RELOAD_FAILED',
    message: /missing does not exist/,
  });
});
