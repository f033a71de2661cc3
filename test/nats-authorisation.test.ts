import t from 'tap';
import { connect, nkeyAuthenticator, nkeys } from 'nats';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../common/clock.ts';
import { eventSubject } from '../common/events/subjects.ts';
import { silentLogger } from '../common/logger.ts';
import { EventChannel } from '../sidecar/trust/event-channel.ts';
import { readNatsAuth } from '../sidecar/trust/nats-auth.ts';
import { launchUntilReady, terminate } from './fixtures/launch.ts';
import { findNatsServer, freePort } from './fixtures/nats-server.ts';

// Issue 21 item 5: the events' trust must not rest on the serving key alone. With an authorising nats-server only the
// control plane's NATS user may publish on Sigil's subjects; a sidecar's user (or anyone else) can only listen.
const TD = 'example.org';

function user() {
  const kp = nkeys.createUser();
  return { seed: new TextDecoder().decode(kp.getSeed()), publicKey: kp.getPublicKey() };
}

t.test('only the control plane user publishes on sigil subjects; others never reach a sidecar', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-nats-auth-'));
  const cp = user();
  const sidecar = user();
  const port = await freePort();
  const conf = join(dir, 'nats.conf');
  await writeFile(
    conf,
    `listen: "127.0.0.1:${port}"
authorization {
  users = [
    { nkey: ${cp.publicKey}, permissions: { publish: "sigil.>", subscribe: "_INBOX.>" } }
    { nkey: ${sidecar.publicKey}, permissions: { publish: "_INBOX.>", subscribe: "sigil.>" } }
  ]
}
`,
  );
  await writeFile(join(dir, 'sidecar.nk'), `${sidecar.seed}\n`, { mode: 0o600 });
  const server = await launchUntilReady(findNatsServer(), ['-c', conf], 'Server is ready');
  const url = `nats://127.0.0.1:${port}`;
  t.teardown(async () => {
    await terminate(server);
    await rm(dir, { recursive: true, force: true });
  });

  const received: string[] = [];
  let connected!: () => void;
  const up = new Promise<void>((resolve) => {
    connected = resolve;
  });
  const arrivals: Array<() => void> = [];
  const channel = new EventChannel(
    { servers: [url], trustDomain: TD, auth: readNatsAuth({ nkeySeedFile: join(dir, 'sidecar.nk') }) },
    {
      roots: () => [],
      onEvent: () => undefined,
      onStatus: (isUp) => {
        if (isUp) connected();
      },
      onReceived: (_kind, result) => {
        received.push(result);
        arrivals.shift()?.();
      },
      clock: systemClock,
      logger: silentLogger(),
    },
  );
  channel.start();
  t.teardown(() => channel.close());
  await up;
  const nextArrival = () => new Promise<void>((resolve) => arrivals.push(resolve));
  const subject = eventSubject(TD, 'revocation');

  const publisherOf = async (seed: string) => {
    const nc = await connect({ servers: url, authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) });
    t.teardown(() => nc.close());
    return nc;
  };
  const controlPlane = await publisherOf(cp.seed);
  let arrived = nextArrival();
  controlPlane.publish(subject, new Uint8Array([1, 2, 3]));
  await arrived;
  t.equal(received.length, 1, "the control plane user's message reaches the sidecar (and is judged there)");

  const intruder = await publisherOf(sidecar.seed);
  for (let i = 0; i < 20; i++) intruder.publish(subject, new Uint8Array([9, 9, 9]));
  await intruder.flush();
  arrived = nextArrival();
  controlPlane.publish(subject, new Uint8Array([4, 5, 6]));
  await arrived;
  t.equal(received.length, 2, 'the unauthorised publications never arrived; the next authorised one did');

  await t.rejects(connect({ servers: url, reconnect: false }), 'an anonymous connection is refused');
  await t.rejects(readNatsAuthAsync(join(dir, 'missing.nk')), { code: 'SIGIL_ERR_CONFIG_INVALID' });
});

async function readNatsAuthAsync(path: string) {
  return readNatsAuth({ nkeySeedFile: path });
}
