import t from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatHostPort } from '../common/address.ts';
import { makeCsr } from '../common/csr-builder.ts';
import { ErrorCode } from '../common/errors.ts';
import { generateKeyPair } from '../common/key-pair.ts';
import { createLogger } from '../common/logger.ts';
import { FakeClock } from '../common/clock.ts';
import { ControlPlane, initCa, resolveControlPlaneConfig } from '../control-plane/index.ts';
import { GrpcIdentityApi } from '../sidecar/index.ts';
import { sourceOf } from '../control-plane/api/source-rate-limit.ts';

// Issue 21 item 10: Attest has a per-source budget (RESOURCE_EXHAUSTED beyond) and refusals are logged at a
// bounded rate, so guessing tokens is slow and does not flood the log.
const PASSPHRASE = 'attest rate limit test';

t.test('Attest past the per-source budget is RESOURCE_EXHAUSTED; refusal logs are bounded', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'sigil-attest-limit-'));
  await initCa({ dataDir, trustDomain: 'example.org', keyType: 'ec-p256', passphrase: PASSPHRASE, now: Date.now() });
  const config = resolveControlPlaneConfig({
    env: {
      SIGIL_LISTEN_GRPC: '127.0.0.1:0',
      SIGIL_LISTEN_HTTP: '127.0.0.1:0',
      SIGIL_ATTEST_PER_SOURCE_LIMIT: '30',
    },
    flags: { dataDir },
    cwd: dataDir,
  });
  const lines: string[] = [];
  const logger = createLogger({
    component: 'test',
    level: 'info',
    destination: { write: (l: string) => void lines.push(l) },
  });
  // A clock that stands still: every call falls in one window, of the budget and of the log limit alike.
  const cp = new ControlPlane({ config, passphrase: PASSPHRASE }, { logger, clock: new FakeClock(Date.now()) });
  const address = formatHostPort((await cp.start()).grpc);
  t.teardown(async () => {
    await cp.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  const pem = await readFile(join(dataDir, 'bundle.pem'), 'utf8');
  const client = new GrpcIdentityApi({ address, bundlePem: () => pem, trustDomain: 'example.org' });
  const csr = await makeCsr({ spiffeId: 'spiffe://example.org/ns/a/sa/b', keys: await generateKeyPair('ec-p256') });
  const codes: string[] = [];
  for (let i = 0; i < 35; i++) {
    codes.push(
      await client.attest(`sigil-jt-wrong${i}`, csr).then(
        () => 'ok',
        (err: { code: string }) => err.code,
      ),
    );
  }
  t.equal(codes.filter((c) => c === ErrorCode.TOKEN_INVALID).length, 30, 'the budget is spent on wrong tokens');
  t.same(codes.slice(30), Array(5).fill(ErrorCode.RATE_LIMITED), 'then RESOURCE_EXHAUSTED with RATE_LIMITED');
  const refusalLines = lines.filter((l) => l.includes('"request refused"'));
  t.equal(refusalLines.length, 10 + 5, '35 refusals: 10 TOKEN_INVALID lines (the per-second cap) and 5 RATE_LIMITED');
});

t.test('sources are addresses without ports', async (t) => {
  t.equal(sourceOf('ipv4:10.0.0.7:51234'), '10.0.0.7');
  t.equal(sourceOf('ipv6:[::1]:443'), '::1');
});
