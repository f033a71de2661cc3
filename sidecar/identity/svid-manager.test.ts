import t from 'tap';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { Writable } from 'node:stream';
import { FakeClock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { createLogger } from '../../common/logger.ts';
import { makeTestPki } from '../../test/fixtures/cert-factory.ts';
import { resolveTlsSettings } from '../proxy/tls-settings.ts';
import { CredentialSource, type TlsMaterial } from './credential-source.ts';
import { FakeIdentityApi, type FakeOutcome, parseCsr } from './identity-test-kit.ts';
import type { IssuedTrustWire } from './identity-api.ts';
import type { SvidStateStore } from './svid-state-dir.ts';
import type { X509PopDevice } from './x509pop-device.ts';
import {
  SvidManager,
  type CredentialSink,
  type SvidFailedEvent,
  type SvidIssuedEvent,
  type SvidObserver,
  type SvidState,
} from './svid-manager.ts';

const ID = 'spiffe://example.org/ns/prod/sa/web';
const TOKEN = 'join-token-secret-1';
const pki = await makeTestPki('example.org');
const foreignPki = await makeTestPki('example.org');
const otherDomainPki = await makeTestPki('other.org');
// Inside the test PKI's validity window, which cert-factory anchors to real time.
const startMs = pki.intermediate.cert.notBefore.getTime() + 60_000;

class RecordingObserver implements SvidObserver {
  readonly issuedEvents: SvidIssuedEvent[] = [];
  readonly failedEvents: SvidFailedEvent[] = [];
  readonly states: SvidState[] = [];
  #waiters: { ready: () => boolean; resolve: () => void }[] = [];

  issued(e: SvidIssuedEvent): void {
    this.issuedEvents.push(e);
    this.#wake();
  }
  failed(e: SvidFailedEvent): void {
    this.failedEvents.push(e);
    this.#wake();
  }
  stateChanged(s: SvidState): void {
    this.states.push(s);
    this.#wake();
  }
  /** Call before advancing the clock; resolves with the next issuance. */
  nextIssued(): Promise<SvidIssuedEvent> {
    const n = this.issuedEvents.length;
    return this.#until(() => this.issuedEvents.length > n).then(() => this.issuedEvents[n] as SvidIssuedEvent);
  }
  nextFailed(): Promise<SvidFailedEvent> {
    const n = this.failedEvents.length;
    return this.#until(() => this.failedEvents.length > n).then(() => this.failedEvents[n] as SvidFailedEvent);
  }
  #until(ready: () => boolean): Promise<void> {
    return new Promise((resolve) => this.#waiters.push({ ready, resolve }));
  }
  #wake(): void {
    const due = this.#waiters.filter((w) => w.ready());
    this.#waiters = this.#waiters.filter((w) => !w.ready());
    for (const w of due) w.resolve();
  }
}

class RecordingSink implements CredentialSink {
  readonly published: TlsMaterial[] = [];
  readonly cleared: string[] = [];
  update(material: TlsMaterial): void {
    this.published.push(material);
  }
  clear(reason: string): void {
    this.cleared.push(reason);
  }
}

const logLines: string[] = [];
const logSink = new Writable({
  write(chunk: Buffer, _enc, done) {
    logLines.push(chunk.toString());
    done();
  },
});

/** An in-memory state directory. */
class MemoryStateStore implements SvidStateStore {
  stored: TlsMaterial | undefined;
  discarded = 0;
  async load(spiffeId: string): Promise<TlsMaterial | undefined> {
    return this.stored?.spiffeId === spiffeId ? this.stored : undefined;
  }
  async save(material: TlsMaterial): Promise<void> {
    this.stored = material;
  }
  async discard(): Promise<void> {
    this.stored = undefined;
    this.discarded++;
  }
}

function harness(opts: { sink?: CredentialSink; ttlMs?: number; stateStore?: SvidStateStore } = {}) {
  const clock = new FakeClock(startMs);
  const api = new FakeIdentityApi({
    pki,
    clock,
    tokens: [TOKEN],
    ...(opts.ttlMs === undefined ? {} : { ttlMs: opts.ttlMs }),
  });
  const observer = new RecordingObserver();
  const sink = opts.sink ?? new CredentialSource({ clientTls: resolveTlsSettings(), clock });
  const trust: IssuedTrustWire[] = [];
  const tokenBox: { token: string | undefined } = { token: TOKEN };
  const manager = new SvidManager(
    { spiffeId: ID, trustDomain: 'example.org', joinToken: () => tokenBox.token },
    {
      api,
      credentials: sink,
      clock,
      random: () => 0.5,
      logger: createLogger({ component: 'sidecar', destination: logSink }),
      observer,
      onTrust: (x) => trust.push(x),
      ...(opts.stateStore ? { stateStore: opts.stateStore } : {}),
    },
  );
  return { clock, api, observer, sink, trust, tokenBox, manager };
}

const spkiOf = (m: TlsMaterial | undefined) =>
  createPublicKey(m?.keyPem ?? '')
    .export({ format: 'der', type: 'spki' })
    .toString('hex');

t.test('start attests, validates and publishes the SVID', async (t) => {
  const h = harness();
  await h.manager.start();
  t.equal(h.manager.state, 'ready');
  const m = h.manager.current();
  t.equal(m?.spiffeId, ID);
  t.same(
    h.api.calls.map((c) => [c.op, c.token]),
    [['attest', TOKEN]],
  );
  const source = h.sink as CredentialSource;
  t.equal(source.current?.version, 1, 'published to the credential source, which built TLS contexts from it');
  t.equal(source.current?.material.serial, m?.serial);
  t.equal(h.api.calls[0]?.csrSpkiSha256.length, 64);
  t.same(
    h.trust.map((x) => x.trustDomain),
    ['example.org'],
    'trust handed to the hook',
  );
  t.same(
    h.observer.issuedEvents.map((e) => [e.via, e.reason]),
    [['attest', 'start']],
  );
  t.equal(h.clock.pendingTimers, 2, 'renewal and expiry timers armed');
  h.manager.stop();
});

t.test('renews at half life with a new key and serial', async (t) => {
  const h = harness();
  await h.manager.start();
  const first = h.manager.current();
  await h.clock.waitForTimers(2);
  // Draw 0.5: exactly half of the lifetime counted from issuance; the 30 s backdating does not count, or a short
  // TTL would be renewed at once, in a loop.
  const halfLifeFromNow = 3_600_000 / 2;
  h.clock.advance(halfLifeFromNow - 1);
  t.equal(h.api.calls.length, 1, 'not renewed a millisecond early');
  const next = h.observer.nextIssued();
  h.clock.advance(1);
  t.equal(h.manager.state, 'renewing');
  t.same(await next, {
    via: 'renew',
    reason: 'scheduled',
    spiffeId: ID,
    serial: h.manager.current()?.serial,
    notAfter: h.manager.current()?.notAfter,
  });
  const second = h.manager.current();
  t.equal(h.manager.state, 'ready');
  t.equal(h.api.calls[1]?.op, 'renew');
  t.equal(h.api.calls[1]?.currentSerial, first?.serial, 'renewed over mTLS with the current SVID');
  t.not(second?.serial, first?.serial);
  t.not(spkiOf(second), spkiOf(first), 'a new key');
  t.equal((h.sink as CredentialSource).current?.version, 2);
  t.equal(h.clock.pendingTimers, 2, 'next renewal and expiry re-armed, old ones cancelled');
  h.manager.stop();
});

t.test('a failed renewal keeps the old SVID and retries with growing backoff', async (t) => {
  const h = harness();
  await h.manager.start();
  const first = h.manager.current();
  const unavailable = new SigilError(ErrorCode.UNAVAILABLE, 'control plane unreachable');
  h.api.script.push(
    { kind: 'error', error: unavailable },
    { kind: 'error', error: unavailable },
    { kind: 'error', error: 'not an Error at all' },
  );
  let failed = h.observer.nextFailed();
  h.clock.advance(30 * 60_000);
  const delays: number[] = [];
  for (let i = 1; i <= 3; i++) {
    const e = await failed;
    t.equal(e.attempt, i);
    t.equal(e.code, i === 3 ? ErrorCode.INTERNAL : ErrorCode.UNAVAILABLE);
    t.equal(h.manager.state, 'renewing', 'still serving while renewal is overdue');
    t.equal(h.manager.current()?.serial, first?.serial, 'old SVID kept');
    delays.push(e.retryInMs);
    failed = h.observer.nextFailed();
    const issued = h.observer.nextIssued();
    h.clock.advance(e.retryInMs);
    if (i === 3) await issued;
  }
  t.same(delays, [750, 1500, 3000], 'capped exponential backoff with equal jitter');
  t.equal(h.manager.state, 'ready');
  t.not(h.manager.current()?.serial, first?.serial);
  const warn = logLines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l['level'] === 'warn' && l['attempt'] === 2);
  t.equal(warn[0]?.['err_code'], ErrorCode.UNAVAILABLE, 'logged with its code and count');
  t.equal(warn[0]?.['spiffe_id'], ID);
  h.manager.stop();
});

t.test('a response that fails validation is refused and the old SVID kept', async (t) => {
  // A sink that accepts anything, so only the manager's own validation can refuse.
  const sink = new RecordingSink();
  const h = harness({ sink });
  await h.manager.start();
  const first = h.manager.current();
  const cases: { name: string; code: string; outcome: FakeOutcome }[] = [
    {
      name: 'wrong SPIFFE ID',
      code: ErrorCode.SVID_INVALID,
      outcome: { kind: 'respond', respond: (r, api) => api.issue(r, { uris: ['spiffe://example.org/ns/prod/sa/db'] }) },
    },
    {
      name: 'leaf for another key',
      code: ErrorCode.SVID_INVALID,
      outcome: {
        kind: 'respond',
        respond: async (_r, api) => ({
          chain: [(await pki.issueSvid(ID)).der, pki.intermediate.der],
          trust: api.trust(),
        }),
      },
    },
    {
      name: 'chain to an unknown root',
      code: ErrorCode.SVID_UNTRUSTED,
      outcome: { kind: 'respond', respond: (r, api) => api.issue(r, {}, foreignPki) },
    },
    {
      name: 'trust for another domain',
      code: ErrorCode.SVID_UNTRUSTED,
      outcome: {
        kind: 'respond',
        respond: (r, api) =>
          api.issue(r, {}, otherDomainPki).then((w) => ({
            ...w,
            trust: { trustDomain: 'other.org', roots: [otherDomainPki.root.der], bundleSequence: 1 },
          })),
      },
    },
    {
      name: 'already expired leaf',
      code: ErrorCode.SVID_INVALID,
      outcome: {
        kind: 'respond',
        respond: (r, api) =>
          api.issue(r, { notBefore: new Date(startMs - 120_000), notAfter: new Date(startMs - 60_000) }),
      },
    },
    {
      name: 'CA leaf',
      code: ErrorCode.SVID_INVALID,
      outcome: {
        kind: 'respond',
        respond: (r, api) => api.issue(r, { isCa: true, keyUsage: ['digitalSignature', 'keyCertSign'] }),
      },
    },
    {
      name: 'no certificate',
      code: ErrorCode.SVID_INVALID,
      outcome: { kind: 'respond', respond: async (_r, api) => ({ chain: [], trust: api.trust() }) },
    },
    {
      name: 'no roots',
      code: ErrorCode.BUNDLE_INVALID,
      outcome: {
        kind: 'respond',
        respond: (r, api) => api.issue(r).then((w) => ({ ...w, trust: { ...w.trust, roots: [] } })),
      },
    },
  ];
  for (const c of cases) {
    h.api.script.push(c.outcome);
    const failed = h.observer.nextFailed();
    t.equal(await h.manager.renewNow(c.name), false, `${c.name}: not published`);
    t.equal((await failed).code, c.code, `${c.name}: refused with ${c.code}`);
    t.equal(h.manager.current()?.serial, first?.serial, `${c.name}: old SVID kept`);
    t.equal(sink.published.length, 1, `${c.name}: nothing new reached the data path`);
  }
  t.equal(h.trust.length, 1, 'trust from refused responses is not handed on');
  h.manager.stop();
});

t.test('expiry without a successful renewal withdraws the SVID; re-attestation needs a join token', async (t) => {
  const sink = new RecordingSink();
  const h = harness({ sink, ttlMs: 120_000 });
  await h.manager.start();
  const first = h.manager.current();
  h.api.renewFailure = new SigilError(ErrorCode.UNAVAILABLE, 'control plane unreachable');
  let step = 60_000;
  let last: SvidFailedEvent | undefined;
  const renewTimes: number[] = [];
  for (let i = 0; i < 20 && last?.via !== 'attest'; i++) {
    const failed = h.observer.nextFailed();
    h.clock.advance(step);
    last = await failed;
    step = last.retryInMs;
    if (last.via === 'renew') renewTimes.push(h.clock.now());
  }
  t.ok(renewTimes.length >= 5, 'renewal was retried');
  t.equal(renewTimes.at(-1), (first?.notAfter ?? 0) - 1000, 'the last retry was pulled in to just before expiry');
  t.equal(last?.via, 'attest', 'fell back to attestation');
  t.equal(last?.code, ErrorCode.TOKEN_USED, 'the one-time token was refused by the server');
  t.equal(h.manager.state, 'expired');
  t.equal(h.manager.current(), undefined, 'nothing served');
  t.same(sink.cleared, ['svid-expired'], 'the sink was told to stop serving');
  t.ok(
    logLines.some((l) => l.includes('no longer served') && l.includes(first?.serial ?? '-')),
    'logged clearly',
  );

  h.tokenBox.token = undefined;
  const attestCalls = h.api.calls.filter((c) => c.op === 'attest').length;
  const failed = h.observer.nextFailed();
  h.clock.advance(step);
  const noToken = await failed;
  t.equal(noToken.code, ErrorCode.TOKEN_INVALID);
  t.equal(h.api.calls.filter((c) => c.op === 'attest').length, attestCalls, 'no attestation without a token');

  h.tokenBox.token = 'join-token-secret-2';
  h.api.addToken(h.tokenBox.token);
  const issued = h.observer.nextIssued();
  h.clock.advance(noToken.retryInMs);
  t.equal((await issued).via, 'attest');
  t.equal(h.manager.state, 'ready');
  t.equal(sink.published.length, 2);
  h.manager.stop();
});

t.test('renewNow renews at once with a new key, and a request during a renewal is not lost', async (t) => {
  const h = harness();
  await h.manager.start();
  const first = h.manager.current();
  t.equal(await h.manager.renewNow('ca-rotation'), true);
  const second = h.manager.current();
  t.not(second?.serial, first?.serial);
  t.not(spkiOf(second), spkiOf(first));
  t.same(
    h.observer.issuedEvents.map((e) => e.reason),
    ['start', 'ca-rotation'],
  );

  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  h.api.script.push({ kind: 'respond', respond: async (r, api) => (await held, api.issue(r)) });
  const a = h.manager.renewNow('order-a');
  const b = h.manager.renewNow('order-b');
  release();
  t.same(await Promise.all([a, b]), [true, true]);
  t.same(
    h.api.calls.map((c) => c.op),
    ['attest', 'renew', 'renew', 'renew'],
    'the second order ran after the first',
  );
  t.equal(h.clock.pendingTimers, 2);
  h.manager.stop();
});

t.test('a failed first attestation is retried; stop cancels timers and drops a result in flight', async (t) => {
  const sink = new RecordingSink();
  const h = harness({ sink });
  h.api.script.push({ kind: 'error', error: new SigilError(ErrorCode.UNAVAILABLE, 'connection refused') });
  await h.manager.start();
  t.equal(h.manager.state, 'starting');
  t.equal(h.manager.current(), undefined);
  const e = h.observer.failedEvents[0];
  t.equal(e?.via, 'attest');
  const issued = h.observer.nextIssued();
  h.clock.advance(e?.retryInMs ?? 0);
  await issued;
  t.equal(h.manager.state, 'ready');

  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  h.api.script.push({ kind: 'respond', respond: async (r, api) => (await held, api.issue(r)) });
  const inFlight = h.manager.renewNow('rotation');
  h.manager.stop();
  t.equal(h.clock.pendingTimers, 0);
  release();
  t.equal(await inFlight, false);
  t.equal(sink.published.length, 1, 'nothing published after stop');
  t.equal(h.manager.state, 'stopped');
  t.equal(await h.manager.renewNow('late'), false);
  await t.rejects(h.manager.start(), { code: ErrorCode.INVALID_ARGUMENT });
});

t.test('a throwing observer or trust hook does not disturb the manager', async (t) => {
  const clock = new FakeClock(startMs);
  const api = new FakeIdentityApi({ pki, clock, tokens: [TOKEN] });
  const boom = () => {
    throw new Error('hook failed');
  };
  const manager = new SvidManager(
    { spiffeId: ID, trustDomain: 'example.org', joinToken: async () => TOKEN },
    {
      api,
      credentials: new RecordingSink(),
      clock,
      random: () => 0.5,
      logger: createLogger({ component: 'sidecar', destination: logSink }),
      observer: { issued: boom, stateChanged: boom },
      onTrust: boom,
    },
  );
  await manager.start();
  t.equal(manager.state, 'ready');
  manager.stop();
});

t.test('configuration is validated once', async (t) => {
  const deps = {
    api: new FakeIdentityApi({ pki, clock: new FakeClock(startMs) }),
    credentials: new RecordingSink(),
    clock: new FakeClock(startMs),
    random: () => 0.5,
    logger: createLogger({ component: 'sidecar', destination: logSink }),
  };
  t.throws(() => new SvidManager({ spiffeId: ID, trustDomain: 'other.org', joinToken: () => TOKEN }, deps), {
    code: ErrorCode.SPIFFE_ID_TRUST_DOMAIN,
  });
  t.throws(
    () =>
      new SvidManager({ spiffeId: 'spiffe://example.org', trustDomain: 'example.org', joinToken: () => TOKEN }, deps),
    { code: ErrorCode.SPIFFE_ID_INVALID },
  );
});

t.test('logs never carry key material or join tokens', async (t) => {
  t.ok(logLines.length > 10, 'the tests above logged');
  for (const line of logLines) {
    t.notMatch(line, /PRIVATE KEY|join-token-secret/, 'no secret in a log line');
  }
  const issued = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['msg'] === 'SVID renewed');
  t.ok(
    issued?.['spiffe_id'] && issued['serial'] && issued['not_after'],
    'issuance logged with spiffe_id, serial and not_after',
  );
});

t.test('a join token source that fails says why, e.g. the token file it could not read', async (t) => {
  const h = harness();
  const manager = new SvidManager(
    {
      spiffeId: ID,
      trustDomain: 'example.org',
      joinToken: () => {
        throw new SigilError(ErrorCode.CONFIG_INVALID, 'cannot read join token file /etc/sigil/api.tokn: ENOENT');
      },
    },
    {
      api: h.api,
      credentials: h.sink,
      clock: h.clock,
      random: () => 0.5,
      logger: createLogger({ component: 't', level: 'silent' }),
    },
  );
  await manager.start();
  t.equal(manager.lastFailure?.code, ErrorCode.TOKEN_INVALID);
  t.match(manager.lastFailure?.message, /cannot read join token file \/etc\/sigil\/api\.tokn: ENOENT/);
  manager.stop();
});

t.test('state directory: a restart renews with the stored SVID instead of a token', async (t) => {
  const store = new MemoryStateStore();
  const first = harness({ stateStore: store });
  await first.manager.start();
  first.manager.stop();
  await Promise.resolve();
  t.equal(store.stored?.serial, first.manager.current()?.serial, 'every issued SVID is stored');

  const second = harness({ stateStore: store });
  second.tokenBox.token = undefined;
  await second.manager.start();
  t.equal(second.manager.state, 'ready');
  t.same(
    second.api.calls.map((c) => [c.op, c.currentSerial]),
    [['renew', first.manager.current()?.serial]],
    'renewed with the stored SVID, no attestation',
  );
  t.not(second.manager.current()?.serial, first.manager.current()?.serial);
  second.manager.stop();
});

t.test('state directory: a stored SVID the control plane refuses is dropped and a token is used', async (t) => {
  const store = new MemoryStateStore();
  const first = harness({ stateStore: store });
  await first.manager.start();
  first.manager.stop();
  await Promise.resolve();

  const second = harness({ stateStore: store });
  second.api.script.push({ kind: 'error', error: new SigilError(ErrorCode.REVOKED, 'certificate is revoked') });
  await second.manager.start();
  t.equal(second.manager.state, 'ready');
  t.same(
    second.api.calls.map((c) => c.op),
    ['renew', 'attest'],
  );
  t.equal(store.discarded, 1, 'the refused SVID was forgotten');
  second.manager.stop();
});

t.test('state directory: an unreachable control plane keeps the stored SVID for the next try', async (t) => {
  const store = new MemoryStateStore();
  const first = harness({ stateStore: store });
  await first.manager.start();
  first.manager.stop();
  await Promise.resolve();

  const second = harness({ stateStore: store });
  second.tokenBox.token = undefined;
  second.api.script.push({ kind: 'error', error: new SigilError(ErrorCode.UNAVAILABLE, 'control plane unreachable') });
  await second.manager.start();
  t.equal(second.manager.state, 'starting');
  t.equal(second.manager.lastFailure?.code, ErrorCode.UNAVAILABLE, '/readyz can say why');
  const ready = second.manager.whenReady();
  const issued = second.observer.nextIssued();
  second.clock.advance(second.observer.failedEvents[0]?.retryInMs ?? 0);
  t.equal((await issued).via, 'renew', 'the retry renews with the stored SVID, no token needed');
  await ready;
  t.equal(store.discarded, 0);
  second.manager.stop();
});

t.test('a renewal refused as revoked withdraws the SVID; it re-attests once a token is there', async (t) => {
  const h = harness();
  await h.manager.start();
  h.tokenBox.token = undefined;
  h.api.script.push({ kind: 'error', error: new SigilError(ErrorCode.REVOKED, 'identity is revoked') });
  t.notOk(await h.manager.renewNow('own-svid-revoked'));
  t.equal(h.manager.state, 'revoked');
  t.equal(h.manager.current(), undefined, 'nothing served');
  t.same((h.sink as CredentialSource).current, undefined, 'withdrawn from the TLS contexts');
  h.tokenBox.token = 'join-token-secret-2';
  h.api.addToken('join-token-secret-2');
  const issued = h.observer.nextIssued();
  h.clock.advance(h.observer.failedEvents.at(-1)?.retryInMs ?? 0);
  t.equal((await issued).via, 'attest');
  t.equal(h.manager.state, 'ready');
  h.manager.stop();
});

t.test('with an x509pop credential the manager attests by x509pop and never asks for a join token', async (t) => {
  const clock = new FakeClock(startMs);
  const devices: X509PopDevice[] = [];
  class PopApi extends FakeIdentityApi {
    async attestX509Pop(device: X509PopDevice, csrDer: Uint8Array) {
      devices.push(device);
      return this.issue(await parseCsr(csrDer));
    }
  }
  const api = new PopApi({ pki, clock });
  const device: X509PopDevice = { chainDer: [pki.root.der], key: createPrivateKey(pki.root.key.keyPem) };
  let tokenAsked = 0;
  const manager = new SvidManager(
    { spiffeId: ID, trustDomain: 'example.org', joinToken: () => `${tokenAsked++}`, x509pop: () => device },
    {
      api,
      credentials: new CredentialSource({ clientTls: resolveTlsSettings(), clock }),
      clock,
      random: () => 0.5,
      logger: createLogger({ component: 'sidecar', destination: logSink }),
    },
  );
  await manager.start();
  t.equal(manager.state, 'ready');
  t.equal(manager.current()?.spiffeId, ID);
  t.same(devices, [device], 'the device credential was handed to the API');
  t.equal(tokenAsked, 0, 'no join token asked for');
  t.same(api.calls, [], 'the token Attest was never called');
  manager.stop();
});
