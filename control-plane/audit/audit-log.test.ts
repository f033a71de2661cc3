import t, { type Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { silentLogger } from '../../common/logger.ts';
import type { SigilEvent } from '../../common/events/sigil-event.ts';
import type { EventPublisher } from '../events/event-publisher.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import { AuditLog } from './audit-log.ts';

const ADMIN = 'spiffe://example.org/sigil/admin/default';
const OPS = 'spiffe://example.org/sigil/admin/ops';

class RecordingPublisher implements EventPublisher {
  readonly events: SigilEvent[] = [];
  fail = false;
  async publish(event: SigilEvent) {
    if (this.fail) throw new SigilError(ErrorCode.UNAVAILABLE, 'NATS is down');
    this.events.push(event);
    return { sequence: this.events.length };
  }
  async close() {}
}

async function setup(t: Test) {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-audit-'));
  const store = new SqliteStore({ path: join(dir, 'sigil.db') });
  await store.open();
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const clock = new FakeClock();
  const publisher = new RecordingPublisher();
  const log = new AuditLog({ store, clock, logger: silentLogger(), publisher: () => publisher });
  return { store, clock, publisher, log };
}

const entry = (actor: string, action = 'revoke') => ({
  actor,
  action,
  target: 'spiffe://example.org/ns/prod/sa/api',
  result: 'ok' as const,
  requestId: 'req-1',
});

t.test('record stores the entry with id and time, and publishes it as a signed audit event', async (t) => {
  const { clock, publisher, log } = await setup(t);
  const recorded = await log.record(entry(ADMIN));
  t.equal(recorded.at.getTime(), clock.now());
  t.equal(recorded.detail, undefined, 'no detail field when none was given');
  t.same(publisher.events, [
    {
      type: 'audit.recorded',
      entry: { id: recorded.id, at: clock.now(), ...entry(ADMIN), detail: '' },
    },
  ]);
  t.same((await log.list()).entries, [recorded]);
});

t.test('a publish that fails leaves the stored entry standing', async (t) => {
  const { publisher, log } = await setup(t);
  publisher.fail = true;
  const recorded = await log.record({ ...entry(OPS), result: 'refused', detail: 'SIGIL_ERR_PEER_NOT_ADMIN: no' });
  t.same((await log.list()).entries, [recorded]);
});

t.test('list pages with a cursor, filters by actor and time', async (t) => {
  const { clock, log } = await setup(t);
  for (let i = 0; i < 5; i++) {
    await log.record(entry(i % 2 === 0 ? ADMIN : OPS, `a${i}`));
    clock.advance(1000);
  }
  const first = await log.list({ limit: 2 });
  t.same(
    first.entries.map((e) => e.action),
    ['a0', 'a1'],
  );
  t.ok(first.next);
  const second = await log.list({ limit: 2, after: first.next });
  t.same(
    second.entries.map((e) => e.action),
    ['a2', 'a3'],
  );
  const last = await log.list({ limit: 2, after: second.next });
  t.same(
    last.entries.map((e) => e.action),
    ['a4'],
  );
  t.equal(last.next, undefined, 'no cursor after the last page');
  t.same(
    (await log.list({ actor: OPS })).entries.map((e) => e.action),
    ['a1', 'a3'],
  );
  const since = new Date(Date.UTC(2026, 0, 1) + 3000);
  t.same(
    (await log.list({ since })).entries.map((e) => e.action),
    ['a3', 'a4'],
  );
});

t.test('bad page sizes and cursors are refused with what to do', async (t) => {
  const { log } = await setup(t);
  for (const limit of [0, 1001, 1.5]) {
    await t.rejects(log.list({ limit }), { code: ErrorCode.INVALID_ARGUMENT, message: /give 1 to 1000/ });
  }
  await t.rejects(log.list({ after: "1' OR 1=1" }), { code: ErrorCode.INVALID_ARGUMENT, message: /next cursor/ });
});

t.test('prune removes only entries older than the retention', async (t) => {
  const { clock, log } = await setup(t);
  await log.record(entry(ADMIN, 'old'));
  clock.advance(10 * 86_400_000);
  await log.record(entry(ADMIN, 'new'));
  t.equal(await log.prune(5 * 86_400_000), 1);
  t.same(
    (await log.list()).entries.map((e) => e.action),
    ['new'],
  );
});

t.test('over-long texts are cut, not refused', async (t) => {
  const { log } = await setup(t);
  const recorded = await log.record({ ...entry(ADMIN), target: 'x'.repeat(5000) });
  t.ok(recorded.target.length < 1100);
});

t.test('subscribers see each entry once stored; a throwing one does not stop the others', async (t) => {
  const { log } = await setup(t);
  const seen: string[] = [];
  log.subscribe(() => {
    throw new Error('broken view');
  });
  const off = log.subscribe((e) => seen.push(e.action));
  await log.record(entry(ADMIN, 'first'));
  off();
  await log.record(entry(ADMIN, 'second'));
  t.same(seen, ['first']);
});
