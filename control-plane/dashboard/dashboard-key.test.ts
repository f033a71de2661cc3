import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../../common/errors.ts';
import { silentLogger } from '../../common/logger.ts';
import { DASHBOARD_KEY_FILE, loadDashboardKey } from './dashboard-key.ts';

const PASSPHRASE = 'test passphrase, not a secret';

function dataDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'sigil-dashboard-key-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('a new session key is encrypted at rest with the CA passphrase and reads back the same', async (t) => {
  const dir = dataDir(t);
  const key = await loadDashboardKey(dir, PASSPHRASE, silentLogger());
  t.equal(key.length, 32);
  const file = readFileSync(join(dir, DASHBOARD_KEY_FILE));
  t.match(file.toString(), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
  t.equal(file.indexOf(key), -1, 'the key bytes are not in the file');
  t.equal(statSync(join(dir, DASHBOARD_KEY_FILE)).mode & 0o777, 0o600);
  t.same(await loadDashboardKey(dir, PASSPHRASE, silentLogger()), key, 'the same key after a restart');
  await t.rejects(loadDashboardKey(dir, 'another passphrase', silentLogger()), { code: ErrorCode.CA_PASSPHRASE });
});

t.test('a key stored plain is encrypted in place and keeps its sessions', async (t) => {
  const dir = dataDir(t);
  const legacy = randomBytes(32);
  writeFileSync(join(dir, DASHBOARD_KEY_FILE), legacy, { mode: 0o600 });
  t.same(await loadDashboardKey(dir, PASSPHRASE, silentLogger()), legacy);
  t.match(readFileSync(join(dir, DASHBOARD_KEY_FILE), 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
  t.same(await loadDashboardKey(dir, PASSPHRASE, silentLogger()), legacy);
});

t.test('without a CA passphrase (keys in a PKCS#11 token) the key stays plain', async (t) => {
  const dir = dataDir(t);
  const key = await loadDashboardKey(dir, '', silentLogger());
  t.match(readFileSync(join(dir, DASHBOARD_KEY_FILE), 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  t.same(await loadDashboardKey(dir, '', silentLogger()), key);
  t.same(await loadDashboardKey(dir, PASSPHRASE, silentLogger()), key, 'a passphrase given later encrypts it');
  t.match(readFileSync(join(dir, DASHBOARD_KEY_FILE), 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
});

t.test('a file of another length is refused with what to do', async (t) => {
  const dir = dataDir(t);
  writeFileSync(join(dir, DASHBOARD_KEY_FILE), randomBytes(16), { mode: 0o600 });
  await t.rejects(loadDashboardKey(dir, PASSPHRASE, silentLogger()), {
    code: ErrorCode.CONFIG_INVALID,
    message: /not 32\): delete it to make a new one/,
  });
});
