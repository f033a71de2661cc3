import t from 'tap';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '../../common/key-pair.ts';
import { silentLogger } from '../../common/logger.ts';
import { privateKeyPem, readPrivateKeyFile } from './key-file.ts';
import { encryptPlainServingKey } from './serving-key-file.ts';

t.test('a plain control-plane key of an old data dir is encrypted in place, once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-serving-key-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'key.pem');
  await writeFile(path, privateKeyPem((await generateKeyPair('ec-p256')).privateKey), { mode: 0o600 });
  t.equal(await encryptPlainServingKey(path, 'pass phrase', silentLogger()), true);
  t.match(await readFile(path, 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
  t.equal((await stat(path)).mode & 0o777, 0o600);
  t.ok(await readPrivateKeyFile(path, { passphrase: 'pass phrase' }), 'the passphrase opens it');
  t.equal(await encryptPlainServingKey(path, 'pass phrase', silentLogger()), false, 'already encrypted: untouched');
  t.equal(await encryptPlainServingKey(join(dir, 'none.pem'), 'x', silentLogger()), false, 'missing: nothing to do');
});
