import t from 'tap';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { silentLogger } from '../common/logger.ts';
import { parseSidecarConfig, Sidecar } from '../sidecar/index.ts';
import { startControlPlane } from './fixtures/control-plane-fixture.ts';
import { startNatsServer } from './fixtures/nats-server.ts';

// Issue 21 item 2: a start-up failure with NATS configured must not leave a process running with no listener.
t.test('a sidecar whose port is taken fails to start and leaves nothing running', async (t) => {
  const nats = await startNatsServer();
  const cp = await startControlPlane({ natsServers: [nats.url] });
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    taken.close();
    await cp.stop();
    await nats.stop();
  });
  const port = (taken.address() as { port: number }).port;
  const spiffeId = 'spiffe://example.org/ns/start/sa/web';
  const token = await cp.createToken(spiffeId);
  const yaml = [
    `spiffeId: ${spiffeId}`,
    `controlPlane: { address: "${cp.grpcAddress}", bundle: bundle.pem }`,
    'admin: { listen: 127.0.0.1:0 }',
    `nats: { servers: ["${nats.url}"] }`,
    `inbound:\n  - { listen: 127.0.0.1:${port}, forward: 127.0.0.1:1 }`,
  ].join('\n');
  const sidecar = new Sidecar(
    {
      config: parseSidecarConfig(yaml, join(cp.dataDir, 'sidecar.yaml')),
      bootstrapBundlePem: cp.bundlePem,
      joinToken: () => token,
    },
    { logger: silentLogger() },
  );
  await t.rejects(sidecar.start(), /EADDRINUSE|address already in use/);
  t.equal(sidecar.eventChannelConnected, false, 'the NATS connection was closed with the failed start');
});
