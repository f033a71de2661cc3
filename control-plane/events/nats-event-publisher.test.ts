import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Msg, type NatsConnection, type Subscription } from 'nats';
import { FakeClock, systemClock, type Clock } from '../../common/clock.ts';
import type { SigilEvent } from '../../common/events/sigil-event.ts';
import { verifyEvent, type EventSigner } from '../../common/events/signed-event.ts';
import { eventSubject, eventWildcard, parseEventSubject } from '../../common/events/subjects.ts';
import { silentLogger } from '../../common/logger.ts';
import { controlPlaneId } from '../../common/spiffe-id.ts';
import { makeTestPki } from '../../test/fixtures/cert-factory.ts';
import { startNatsServer } from '../../test/fixtures/nats-server.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import { NatsEventPublisher, type EventChannelStatus } from './nats-event-publisher.ts';

const TD = 'example.org';
const pki = await makeTestPki(TD);
const cp = await pki.issueSvid(controlPlaneId(TD));
const signer: EventSigner = { chainDer: [cp.der, pki.intermediate.der], privateKey: cp.key.privateKey };
const now = cp.cert.notBefore.getTime() + 60_000;
const bundle = (n: number): SigilEvent => ({
  type: 'bundle.updated',
  roots: [pki.root.der],
  bundleSequence: n,
  refreshHintSeconds: 60,
});

const dir = await mkdtemp(join(tmpdir(), 'sigil-events-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const nats = await startNatsServer();
t.teardown(() => nats.stop());

async function openStore(): Promise<SqliteStore> {
  const store = new SqliteStore({ path: join(dir, 'sigil.db') });
  await store.open();
  return store;
}

function publisherWith(store: SqliteStore, clock: Clock = systemClock): NatsEventPublisher {
  return new NatsEventPublisher(
    { servers: [nats.url], trustDomain: TD, reconnectWaitMs: 50 },
    {
      store,
      signer: () => signer,
      clock: { now: () => now, setTimer: clock.setTimer.bind(clock) },
      logger: silentLogger(),
    },
  );
}

function nextStatus(p: NatsEventPublisher, wanted: EventChannelStatus): Promise<void> {
  return new Promise((resolve) => {
    const off = p.onStatus((s) => {
      if (s === wanted) {
        off();
        resolve();
      }
    });
  });
}

async function subscriber(): Promise<{ nc: NatsConnection; sub: Subscription; next(): Promise<Msg> }> {
  const nc = await connect({ servers: nats.url });
  const sub = nc.subscribe(eventWildcard(TD));
  await nc.flush();
  const it = sub[Symbol.asyncIterator]();
  return {
    nc,
    sub,
    async next() {
      const r = await it.next();
      if (r.done) throw new Error('subscription ended');
      return r.value;
    },
  };
}

function verify(msg: Msg, lastSequence: number) {
  return verifyEvent(msg.data, { trustDomain: TD, roots: [pki.root.der], now, lastSequence: () => lastSequence });
}

t.test('a raw NATS subscriber receives a signed event that verifies', async (t) => {
  const store = await openStore();
  const publisher = publisherWith(store);
  const up = nextStatus(publisher, 'connected');
  await publisher.start();
  await up;
  t.equal(publisher.connected, true);
  const sub = await subscriber();
  const { sequence } = await publisher.publish(bundle(1));
  const msg = await sub.next();
  t.equal(msg.subject, eventSubject(TD, 'bundle'));
  t.same(parseEventSubject(msg.subject), { trustDomain: TD, kind: 'bundle' });
  t.match(verify(msg, sequence - 1), {
    ok: true,
    kind: 'bundle',
    sequence,
    event: { type: 'bundle.updated', bundleSequence: 1 },
  });
  t.match(verify(msg, sequence), { ok: false, reason: 'replayed' }, 'the same message again is a replay');
  await sub.nc.close();
  await publisher.close();
  t.equal(publisher.connected, false);
  await t.rejects(publisher.publish(bundle(2)), { code: 'SIGIL_ERR_UNAVAILABLE' });
  await store.close();
});

t.test('sequences only grow, across publisher restarts with the same store', async (t) => {
  const sub = await subscriber();
  const seen: number[] = [];
  for (let run = 0; run < 2; run++) {
    const store = await openStore();
    const publisher = publisherWith(store);
    await publisher.start();
    for (let i = 0; i < 2; i++) {
      const { sequence } = await publisher.publish(bundle(i));
      const result = verify(await sub.next(), seen.at(-1) ?? 0);
      t.match(result, { ok: true, sequence });
      seen.push(sequence);
    }
    await publisher.close();
    await store.close();
  }
  t.ok(
    seen.every((s, i) => i === 0 || s > (seen[i - 1] ?? 0)),
    `strictly increasing: ${seen.join(',')}`,
  );
  await sub.nc.close();
});

t.test('with NATS down, start resolves and the publisher connects once it is up', async (t) => {
  await nats.stop();
  const clock = new FakeClock(now);
  const store = await openStore();
  const publisher = publisherWith(store, clock);
  await publisher.start();
  t.equal(publisher.connected, false);
  await clock.waitForTimers(1);
  const { sequence } = await publisher.publish(bundle(9));

  await nats.restart();
  const sub = await subscriber();
  const up = nextStatus(publisher, 'connected');
  clock.advance(50);
  await up;
  t.equal(publisher.connected, true);
  t.match(
    verify(await sub.next(), sequence - 1),
    { ok: true, sequence },
    'the event published while down is delivered on connect',
  );

  const down = nextStatus(publisher, 'disconnected');
  await nats.stop();
  await down;
  t.equal(publisher.connected, false, 'a lost server is reported');
  const back = nextStatus(publisher, 'connected');
  await nats.restart();
  await back;
  t.equal(publisher.connected, true, 'and the client reconnects by itself');

  await sub.nc.close();
  await publisher.close();
  await store.close();
});

t.test('close() finishes when the server stops answering during the drain', async (t) => {
  const clock = new FakeClock(now);
  const store = await openStore();
  const publisher = publisherWith(store, clock);
  const up = nextStatus(publisher, 'connected');
  await publisher.start();
  await up;
  const resume = nats.freeze();
  t.teardown(resume);
  const armed = clock.pendingTimers;
  let closed = false;
  const closing = publisher.close().then(() => {
    closed = true;
  });
  await clock.waitForTimers(armed + 1);
  t.equal(closed, false, 'the drain is still waiting for the frozen server');
  clock.advance(2000);
  await closing;
  t.equal(publisher.connected, false, 'and the connection is closed once the bound passes');
  resume();
  await store.close();
});
