import t from 'tap';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../../common/errors.ts';
import { silentLogger } from '../../common/logger.ts';
import { resumeCaRotation } from '../ca-rotation.ts';
import { ActiveCa } from './active-ca.ts';
import { activateCaFiles, caPhase, prepareCaFiles, readCaMetadata, retireCaFiles } from './ca-rotation-files.ts';
import { certificatePem, parseCertificatesPem } from './issued-certificate.ts';
import { initCa } from './init-ca.ts';
import { loadCa } from './load-ca.ts';

const NOW = Date.UTC(2026, 0, 1, 12);
const TD = 'example.org';
const PASSPHRASE = 'rotation files test passphrase';

async function freshCa(t: { teardown(fn: () => unknown): void }, options: { offlineRoot?: boolean } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-rot-files-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const dataDir = join(dir, 'ca');
  const offlineRootDir = join(dir, 'offline');
  await initCa({
    dataDir,
    trustDomain: TD,
    keyType: 'ec-p256',
    passphrase: PASSPHRASE,
    now: NOW,
    ...(options.offlineRoot ? { offlineRootDir } : {}),
  });
  return { dataDir, offlineRootDir };
}

const serials = (pem: string) => parseCertificatesPem(pem).map((c) => c.serialNumber);
const failure = (p: Promise<unknown>) =>
  p.then(
    () => ({ code: 'resolved', message: '' }),
    (e: { code: string; message: string }) => e,
  );

t.test('prepare, activate, retire move through the phases and are refused out of order', async (t) => {
  const { dataDir } = await freshCa(t);
  const oldRoot = await readFile(join(dataDir, 'root.pem'), 'utf8');
  t.equal(caPhase(await readCaMetadata(dataDir)), 'stable');
  t.match(await failure(activateCaFiles({ dataDir, now: NOW })), {
    code: ErrorCode.CA_ROTATION_STATE,
    message: /stable; start with sigil ca rotate prepare/,
  });
  t.match(await failure(retireCaFiles({ dataDir }, () => '')), { code: ErrorCode.CA_ROTATION_STATE });

  const prepared = await prepareCaFiles({ dataDir, passphrase: PASSPHRASE, now: NOW + 1000, intermediateOnly: false });
  const next = prepared.meta.next!;
  t.equal(caPhase(prepared.meta), 'prepared');
  t.not(next.rootCert, 'root.pem', 'a new root file');
  t.equal((await stat(join(dataDir, next.rootKey))).mode & 0o777, 0o600, 'the new root key is private');
  t.equal((await stat(join(dataDir, next.intermediateKey))).mode & 0o777, 0o600);
  t.match(
    await readFile(join(dataDir, next.intermediateKey), 'utf8'),
    /ENCRYPTED PRIVATE KEY/,
    'CA keys stay encrypted at rest',
  );
  t.equal(prepared.newRootKeyPem, undefined, 'an online root key is not handed out');
  t.match(await failure(prepareCaFiles({ dataDir, passphrase: PASSPHRASE, now: NOW, intermediateOnly: false })), {
    code: ErrorCode.CA_ROTATION_STATE,
    message: /activate next/,
  });
  const stillOld = await loadCa({ dataDir, passphrase: PASSPHRASE });
  t.not(
    stillOld.ca.intermediateSerial,
    prepared.intermediate.serialNumber.toLowerCase(),
    'preparing does not change the signer',
  );

  const activated = await activateCaFiles({ dataDir, now: NOW + 2000 });
  t.equal(caPhase(activated), 'activated');
  t.equal(activated.files.intermediateCert, next.intermediateCert);
  t.equal(activated.previous?.rootCert, 'root.pem');
  // The bundle file is the service's to write; give it both roots as prepare would have.
  await writeFile(join(dataDir, 'bundle.pem'), oldRoot + certificatePem(prepared.root));
  const loaded = await loadCa({ dataDir, passphrase: PASSPHRASE });
  t.equal(
    loaded.ca.intermediateSerial,
    prepared.intermediate.serialNumber.toLowerCase(),
    'after activation the new intermediate loads',
  );

  const retired = await retireCaFiles({ dataDir }, (root) =>
    loaded.ca.roots
      .filter((r) => r.serialNumber !== root.serialNumber)
      .map(certificatePem)
      .join(''),
  );
  t.equal(caPhase(retired.meta), 'stable');
  t.equal(retired.removedRoot?.serialNumber, serials(oldRoot)[0]);
  t.same(
    serials(await readFile(join(dataDir, 'bundle.pem'), 'utf8')),
    [prepared.root.serialNumber],
    'bundle.pem: the new root alone',
  );
  t.same(
    serials(await readFile(join(dataDir, 'admin', 'bundle.pem'), 'utf8')),
    [prepared.root.serialNumber],
    'admin/bundle.pem too',
  );
  t.ok((await loadCa({ dataDir, passphrase: PASSPHRASE })).ca, 'the CA still loads');
});

t.test('a crash between ca.json and bundle.pem is repaired at start', async (t) => {
  const { dataDir } = await freshCa(t);
  const bundleBefore = await readFile(join(dataDir, 'bundle.pem'), 'utf8');
  const prepared = await prepareCaFiles({ dataDir, passphrase: PASSPHRASE, now: NOW, intermediateOnly: false });
  // prepareCaFiles committed ca.json; the bundle still lacks the new root, as if the process died right there.
  t.equal(await readFile(join(dataDir, 'bundle.pem'), 'utf8'), bundleBefore);
  const active = new ActiveCa((await loadCa({ dataDir, passphrase: PASSPHRASE })).ca);
  t.equal(await resumeCaRotation(dataDir, active, silentLogger()), 'prepared');
  t.same(
    active.roots.map((r) => r.serialNumber).sort(),
    [...serials(bundleBefore), prepared.root.serialNumber].sort(),
    'the new root is back in memory',
  );
  t.same(
    serials(await readFile(join(dataDir, 'bundle.pem'), 'utf8')).sort(),
    active.roots.map((r) => r.serialNumber).sort(),
    'and in bundle.pem',
  );
  t.equal(await resumeCaRotation(dataDir, active, silentLogger()), 'prepared', 'resuming twice changes nothing');
});

t.test('an offline root: kept out of the data dir, needed only to sign an intermediate', async (t) => {
  const { dataDir, offlineRootDir } = await freshCa(t, { offlineRoot: true });
  t.notOk(existsSync(join(dataDir, 'root.key')), 'no root key in the data dir');
  t.equal((await stat(join(offlineRootDir, 'root.key'))).mode & 0o777, 0o600, 'the offline root key is private');
  t.equal((await readCaMetadata(dataDir)).rootKeyOffline, true);

  t.match(await failure(prepareCaFiles({ dataDir, passphrase: PASSPHRASE, now: NOW, intermediateOnly: true })), {
    code: ErrorCode.CA_ROTATION_STATE,
    message: /root key is offline: pass it with --root-key/,
  });
  const rootKeyPem = await readFile(join(offlineRootDir, 'root.key'), 'utf8');
  t.match(
    await failure(prepareCaFiles({ dataDir, passphrase: 'wrong', now: NOW, intermediateOnly: true, rootKeyPem })),
    { code: ErrorCode.CA_PASSPHRASE },
  );
  t.equal(caPhase(await readCaMetadata(dataDir)), 'stable', 'a refused prepare changes nothing');
  const prepared = await prepareCaFiles({
    dataDir,
    passphrase: PASSPHRASE,
    now: NOW,
    intermediateOnly: true,
    rootKeyPem,
  });
  t.equal(prepared.meta.next?.rootCert, 'root.pem', 'intermediate-only keeps the root');
  t.equal(prepared.meta.next?.intermediateOnly, true);
  t.equal(prepared.issued.root, undefined);
  t.ok(
    await prepared.intermediate.verify({ publicKey: prepared.root }, globalThis.crypto),
    'the new intermediate is signed by the existing root',
  );
});

t.test('a new root with an offline root: its key is handed to the caller, never written here', async (t) => {
  const { dataDir } = await freshCa(t, { offlineRoot: true });
  const prepared = await prepareCaFiles({ dataDir, passphrase: PASSPHRASE, now: NOW, intermediateOnly: false });
  t.match(prepared.newRootKeyPem, /ENCRYPTED PRIVATE KEY/);
  t.notOk(existsSync(join(dataDir, prepared.meta.next!.rootKey)), 'no new root key in the data dir');
  t.equal(prepared.meta.next?.rootKeyOffline, true);
});

t.test(
  'a prepare whose bundle write never happened, then activated: the CA still loads and the bundle is repaired',
  async (t) => {
    const { dataDir } = await freshCa(t);
    const prepared = await prepareCaFiles({ dataDir, passphrase: PASSPHRASE, now: NOW, intermediateOnly: false });
    await activateCaFiles({ dataDir, now: NOW + 1000 });
    const loaded = await loadCa({ dataDir, passphrase: PASSPHRASE });
    t.equal(
      loaded.ca.intermediateSerial,
      prepared.intermediate.serialNumber.toLowerCase(),
      'the new intermediate loads: its root comes from the rotation state',
    );
    t.equal(loaded.ca.roots.length, 2, 'old root (previous) and new root (current)');
    const active = new ActiveCa(loaded.ca);
    t.equal(await resumeCaRotation(dataDir, active, silentLogger()), 'activated');
    t.equal(serials(await readFile(join(dataDir, 'bundle.pem'), 'utf8')).length, 2, 'bundle.pem holds both again');
  },
);

t.test('outside a rotation, a bundle that lacks the CA root is still refused', async (t) => {
  const { dataDir } = await freshCa(t);
  const other = await freshCa(t);
  await writeFile(join(dataDir, 'bundle.pem'), await readFile(join(other.dataDir, 'bundle.pem'), 'utf8'));
  t.match(await failure(loadCa({ dataDir, passphrase: PASSPHRASE })), { code: ErrorCode.CA_INVALID });
});
