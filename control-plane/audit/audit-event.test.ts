import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Subscription } from 'nats';
import { systemClock } from '../../common/clock.ts';
import { verifyEvent, type EventSigner } from '../../common/events/signed-event.ts';
import { eventSubject } from '../../common/events/subjects.ts';
import { createLogger } from '../../common/logger.ts';
import { controlPlaneId } from '../../common/spiffe-id.ts';
import { makeTestPki } from '../../test/fixtures/cert-factory.ts';
import { startNatsServer } from '../../test/fixtures/nats-server.ts';
import { NatsEventPublisher } from '../events/nats-event-publisher.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import { AuditLog } from './audit-log.ts';

const TD = 'example.org';
const pki = await makeTestPki(TD);
const cp = await pki.issueSvid(controlPlaneId(TD));
const signer: EventSigner = { chainDer: [cp.der, pki.intermediate.der], privateKey: cp.key.privateKey };

const dir = mkdtempSync(join(tmpdir(), 'sigil-audit-event-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const nats = await startNatsServer();
t.teardown(() => nats.stop());

async function firstOf(sub: Subscription): Promise<Uint8Array> {
  for await (const m of sub) return m.data;
  throw new Error('subscription ended');
}

t.test('an audit entry reaches NATS as a verifiable signed event on sigil.<td>.audit', async (t) => {
  const store = new SqliteStore({ path: join(dir, 'sigil.db') });
  await store.open();
  t.teardown(() => store.close());
  const logger = createLogger({ component: 'test', level: 'silent' });
  const publisher = new NatsEventPublisher(
    { servers: [nats.url], trustDomain: TD, reconnectWaitMs: 50 },
    { store, signer: () => signer, clock: systemClock, logger },
  );
  const up = new Promise<void>((resolve) => publisher.onStatus((s) => s === 'connected' && resolve()));
  await publisher.start();
  await up;
  t.teardown(() => publisher.close());
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const audit = nc.subscribe(eventSubject(TD, 'audit'), { max: 1 });
  await nc.flush();

  const log = new AuditLog({ store, clock: systemClock, logger, publisher: () => publisher });
  const recorded = await log.record({
    actor: `spiffe://${TD}/sigil/admin/ops`,
    action: 'revoke',
    target: `spiffe://${TD}/ns/prod/sa/api`,
    result: 'refused',
    requestId: 'req-42',
    detail: 'SIGIL_ERR_PEER_NOT_ADMIN: revoked',
  });
  const data = await firstOf(audit);
  const result = verifyEvent(data, { trustDomain: TD, roots: [pki.root.der], now: Date.now(), lastSequence: () => 0 });
  if (!result.ok) throw new Error(`audit event did not verify: ${result.reason} ${result.detail}`);
  t.equal(result.kind, 'audit');
  t.same(result.event, {
    type: 'audit.recorded',
    entry: {
      id: recorded.id,
      at: recorded.at.getTime(),
      actor: recorded.actor,
      action: 'revoke',
      target: recorded.target,
      result: 'refused',
      requestId: 'req-42',
      detail: 'SIGIL_ERR_PEER_NOT_ADMIN: revoked',
    },
  });
  const forged = new Uint8Array(data);
  forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 1;
  t.equal(
    verifyEvent(forged, { trustDomain: TD, roots: [pki.root.der], now: Date.now(), lastSequence: () => 0 }).ok,
    false,
    'a tampered audit event is refused',
  );
});
