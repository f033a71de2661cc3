import t from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatHostPort } from '../common/address.ts';
import { FakeClock, systemClock } from '../common/clock.ts';
import { ErrorCode } from '../common/errors.ts';
import { silentLogger } from '../common/logger.ts';
import { ControlPlane, initCa, resolveControlPlaneConfig } from '../control-plane/index.ts';
import { GrpcIdentityApi } from '../sidecar/index.ts';

// Issue 21 item 13: a sidecar whose clock is 10 minutes behind the control plane's must say so, with the skew,
// instead of "control plane unreachable". The control plane's clock is injected 10 minutes ahead, so the serving
// certificate it mints at start begins in this host's future, exactly as it would for a host 10 minutes behind.
const TD = 'example.org';
const PASSPHRASE = 'clock-skew test passphrase';
const SKEW_MS = 10 * 60_000;

t.test('a control-plane certificate from the future is reported as clock skew, naming it', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'sigil-clock-skew-'));
  await initCa({ dataDir, trustDomain: TD, keyType: 'ec-p256', passphrase: PASSPHRASE, now: Date.now() - 3_600_000 });
  const config = resolveControlPlaneConfig({
    env: { SIGIL_LISTEN_GRPC: '127.0.0.1:0', SIGIL_LISTEN_HTTP: '127.0.0.1:0' },
    flags: { dataDir },
    cwd: dataDir,
  });
  const ahead = new FakeClock(Date.now() + SKEW_MS);
  const controlPlane = new ControlPlane({ config, passphrase: PASSPHRASE }, { clock: ahead, logger: silentLogger() });
  const address = formatHostPort((await controlPlane.start()).grpc);
  t.teardown(async () => {
    await controlPlane.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  const bundlePem = await readFile(join(dataDir, 'bundle.pem'), 'utf8');
  const sidecarSide = new GrpcIdentityApi({ address, bundlePem: () => bundlePem, trustDomain: TD, clock: systemClock });
  const err = await sidecarSide.fetchTrust().then(
    () => undefined,
    (e: unknown) => e as { code?: string; message?: string; details?: { skewMs?: number } },
  );
  t.equal(err?.code, ErrorCode.CLOCK_SKEW, err?.message ?? 'no error');
  t.notMatch(err?.message, /unreachable/);
  t.match(err?.message, /at least (9|10) min behind the control plane's; fix time synchronisation/);
  const skew = Number(err?.details?.skewMs);
  t.ok(skew > SKEW_MS - 120_000 && skew <= SKEW_MS, `measured skew ${skew} ms, about 10 minutes less the backdating`);
});
