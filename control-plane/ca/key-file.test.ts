import t, { type Test } from 'tap';
import type { webcrypto } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../../common/errors.ts';
import { readPrivateKeyFile, writePrivateKeyFile } from './key-file.ts';
import { generateKeyPair } from '../../common/key-pair.ts';

const PASSPHRASE = 'correct horse battery staple';

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-key-file-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function signsLike(t: Test, original: webcrypto.CryptoKeyPair, loaded: CryptoKey): Promise<void> {
  const data = new TextEncoder().encode('probe');
  const algorithm =
    loaded.algorithm.name === 'ECDSA' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: loaded.algorithm.name };
  const signature = await crypto.subtle.sign(algorithm, loaded, data);
  t.ok(
    await crypto.subtle.verify(algorithm, original.publicKey, signature, data),
    'loaded key signs for the original public key',
  );
}

t.test('CA keys are encrypted PKCS#8, mode 0600, and read back with the passphrase', async (t) => {
  const dir = await tempDir(t);
  for (const type of ['ec-p256', 'rsa-2048'] as const) {
    const path = join(dir, `${type}.key`);
    const keys = await generateKeyPair(type);
    await writePrivateKeyFile(path, keys.privateKey, { passphrase: PASSPHRASE });
    const text = await readFile(path, 'utf8');
    t.ok(text.startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----'), `${type} encrypted`);
    t.equal((await stat(path)).mode & 0o777, 0o600, `${type} mode 0600`);
    const loaded = await readPrivateKeyFile(path, { passphrase: PASSPHRASE });
    t.equal(loaded.extractable, false, 'loaded non-extractable by default');
    await signsLike(t, keys, loaded);
  }
});

t.test('other keys are plain PKCS#8 with mode 0600', async (t) => {
  const path = join(await tempDir(t), 'key.pem');
  const keys = await generateKeyPair('ec-p384');
  await writePrivateKeyFile(path, keys.privateKey);
  t.ok((await readFile(path, 'utf8')).startsWith('-----BEGIN PRIVATE KEY-----'));
  t.equal((await stat(path)).mode & 0o777, 0o600);
  await signsLike(t, keys, await readPrivateKeyFile(path));
});

t.test('a wrong or missing passphrase is CA_PASSPHRASE and never echoes the passphrase', async (t) => {
  const path = join(await tempDir(t), 'intermediate.key');
  await writePrivateKeyFile(path, (await generateKeyPair('ec-p256')).privateKey, { passphrase: PASSPHRASE });
  const wrong = 'wrong-passphrase-123';
  const err = await readPrivateKeyFile(path, { passphrase: wrong }).then(
    () => undefined,
    (e: unknown) => e as Error & { code: string },
  );
  t.equal(err?.code, ErrorCode.CA_PASSPHRASE);
  t.match(err?.message, `the CA passphrase does not decrypt ${path}: check SIGIL_CA_PASSPHRASE or --passphrase-file`);
  t.notMatch(err?.message, wrong);
  t.notMatch(JSON.stringify((err as { details?: unknown }).details), wrong);
  await t.rejects(readPrivateKeyFile(path), { code: ErrorCode.CA_PASSPHRASE });
});

t.test('never overwrites an existing file', async (t) => {
  const path = join(await tempDir(t), 'taken.key');
  await writeFile(path, 'keep me');
  await t.rejects(writePrivateKeyFile(path, (await generateKeyPair('ec-p256')).privateKey), {
    code: ErrorCode.INVALID_ARGUMENT,
  });
  t.equal(await readFile(path, 'utf8'), 'keep me');
});

t.test('an empty passphrase is refused, garbage is CA_INVALID, a missing file CA_MISSING', async (t) => {
  const dir = await tempDir(t);
  await t.rejects(
    writePrivateKeyFile(join(dir, 'a.key'), (await generateKeyPair('ec-p256')).privateKey, { passphrase: '' }),
    { code: ErrorCode.INVALID_ARGUMENT },
  );
  await writeFile(join(dir, 'garbage.key'), 'not a key');
  await t.rejects(readPrivateKeyFile(join(dir, 'garbage.key')), { code: ErrorCode.CA_INVALID });
  await t.rejects(readPrivateKeyFile(join(dir, 'absent.key')), { code: ErrorCode.CA_MISSING });
});

t.test('a damaged encrypted key or a directory is named as such, not as a wrong passphrase', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'intermediate.key');
  await writePrivateKeyFile(path, (await generateKeyPair('ec-p256')).privateKey, { passphrase: PASSPHRASE });
  const pem = await readFile(path, 'utf8');
  await writeFile(path, `${pem.slice(0, 200)}\n-----END ENCRYPTED PRIVATE KEY-----\n`);
  await t.rejects(readPrivateKeyFile(path, { passphrase: PASSPHRASE }), {
    code: ErrorCode.CA_INVALID,
    message: /is damaged.*restore it from a backup/,
  });
  await t.rejects(readPrivateKeyFile(dir, { passphrase: PASSPHRASE }), {
    code: ErrorCode.CA_INVALID,
    message: /is a directory/,
  });
});

// Issue 21 item 13. Tests run as root here, where no mode makes a file unreadable: the refusal is injected at the
// file-system boundary instead.
t.test('an unreadable key file is named as such, with the fix, not "unexpected failure: EACCES"', async (t) => {
  const denied = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
  const actual = await import('node:fs/promises');
  const { readPrivateKeyFile: read } = await t.mockImport<typeof import('./key-file.ts')>('./key-file.ts', {
    'node:fs/promises': { ...actual, readFile: async () => Promise.reject(denied) },
  });
  await t.rejects(read('/data/intermediate.key', { passphrase: PASSPHRASE }), {
    code: ErrorCode.CA_INVALID,
    message:
      /key file \/data\/intermediate\.key cannot be read by this user \(uid \d+\): make it owned by the user that runs Sigil, mode 0600/,
  });
});
