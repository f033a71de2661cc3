import t from 'tap';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../../common/errors.ts';
import {
  CA_FILE_NAMES,
  caFilePaths,
  decodeCaMetadata,
  encodeCaMetadata,
  existingCaEntries,
  writeCaDirectory,
} from './ca-files.ts';

async function workDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-ca-files-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const files = [
  { name: 'a.pem', data: 'A', mode: 0o644 },
  { name: 'secret.key', data: 'S', mode: 0o600 },
  { name: 'sub/x.pem', data: 'X', mode: 0o644 },
  { name: 'meta.json', data: '{}', mode: 0o644 },
];

t.test('writes every file with its mode into a new 0700 directory and leaves no temp dir', async (t) => {
  const dataDir = join(await workDir(t), 'ca');
  await writeCaDirectory(dataDir, files, 'meta.json');
  t.same((await readdir(dataDir)).sort(), ['a.pem', 'meta.json', 'secret.key', 'sub']);
  t.equal((await stat(dataDir)).mode & 0o777, 0o700);
  t.equal((await stat(join(dataDir, 'sub'))).mode & 0o777, 0o700);
  t.equal((await stat(join(dataDir, 'secret.key'))).mode & 0o777, 0o600);
  t.equal((await stat(join(dataDir, 'a.pem'))).mode & 0o777, 0o644);
  t.equal(await readFile(join(dataDir, 'sub/x.pem'), 'utf8'), 'X');
});

t.test('a clash half-way leaves exactly what was there before', async (t) => {
  for (const clash of ['meta.json', 'secret.key', 'sub']) {
    const dataDir = await workDir(t);
    if (clash === 'sub') await mkdir(join(dataDir, 'sub'));
    else await writeFile(join(dataDir, clash), 'old');
    await t.rejects(writeCaDirectory(dataDir, files, 'meta.json'), { code: ErrorCode.CA_EXISTS }, clash);
    t.same(await readdir(dataDir), [clash], `${clash}: nothing added, nothing removed`);
    if (clash !== 'sub') t.equal(await readFile(join(dataDir, clash), 'utf8'), 'old', `${clash}: untouched`);
  }
});

t.test('existingCaEntries names the CA entries present', async (t) => {
  const dataDir = await workDir(t);
  t.same(await existingCaEntries(join(dataDir, 'absent')), []);
  await writeFile(join(dataDir, 'unrelated.txt'), '');
  t.same(await existingCaEntries(dataDir), []);
  await writeFile(join(dataDir, 'root.key'), '');
  await mkdir(join(dataDir, 'admin'));
  t.same(await existingCaEntries(dataDir), ['admin', 'root.key']);
});

t.test('metadata round-trips and refuses anything else', async (t) => {
  const meta = {
    version: 1,
    trustDomain: 'example.org',
    keyType: 'ec-p256',
    createdAt: '2026-01-01T00:00:00.000Z',
    files: CA_FILE_NAMES,
  } as const;
  t.same(decodeCaMetadata(encodeCaMetadata(meta), 'ca.json'), meta);
  const bad: Array<[string, string]> = [
    ['not JSON', '{'],
    ['unknown key type', JSON.stringify({ ...meta, keyType: 'dsa' })],
    ['unknown field', JSON.stringify({ ...meta, extra: 1 })],
    ['escaping file name', JSON.stringify({ ...meta, files: { ...CA_FILE_NAMES, bundle: '../bundle.pem' } })],
  ];
  for (const [name, text] of bad)
    t.throws(() => decodeCaMetadata(text, 'ca.json'), { code: ErrorCode.CA_INVALID }, name);
  t.equal(caFilePaths('/d').adminKey, '/d/admin/key.pem');
});
