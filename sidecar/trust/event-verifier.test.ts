import { fileURLToPath } from 'node:url';
import t from 'tap';
import { signEvent } from '../../common/events/signed-event.ts';
import { controlPlaneId } from '../../common/spiffe-id.ts';
import { makeTestPki } from '../../test/fixtures/cert-factory.ts';
import { packagesOf, projectFiles, runRecordingModules } from '../../test/fixtures/loaded-modules.ts';
import { EventVerifier, type VerifierResult } from './event-verifier.ts';

const TD = 'example.org';
const SUBJECT = 'sigil.example%2Eorg.bundle';

t.test(
  'the queue is bounded: past maxQueued a message is refused unread; results come in submission order',
  async (t) => {
    const verifier = new EventVerifier({ trustDomain: TD, maxQueued: 4 });
    t.teardown(() => verifier.close());
    await verifier.start();
    const order: number[] = [];
    const all: Promise<VerifierResult>[] = [];
    const accepted: boolean[] = [];
    for (let i = 0; i < 10; i++) {
      let done!: (r: VerifierResult) => void;
      const p = new Promise<VerifierResult>((resolve) => {
        done = resolve;
      });
      const ok = verifier.submit(SUBJECT, new Uint8Array([i + 1, 2, 3]), [], Date.now(), (r) => {
        order.push(i);
        done(r);
      });
      accepted.push(ok);
      if (ok) all.push(p);
    }
    // Answers cannot arrive while this loop runs: the refusals are exactly those past the bound.
    t.same(accepted, [true, true, true, true, false, false, false, false, false, false]);
    t.equal(verifier.queued, 4);
    const results = await Promise.all(all);
    t.same(order, [0, 1, 2, 3]);
    for (const r of results) t.match(r, { ok: false, reason: 'malformed' });
    t.equal(verifier.queued, 0, 'answered messages leave the queue');
  },
);

t.test('bytes bound the queue too, but an empty queue always takes one message', async (t) => {
  const verifier = new EventVerifier({ trustDomain: TD, maxQueuedBytes: 100 });
  t.teardown(() => verifier.close());
  const big = new Uint8Array(1000);
  t.ok(
    verifier.submit(SUBJECT, big, [], Date.now(), () => undefined),
    'alone, an oversized one is taken',
  );
  t.notOk(
    verifier.submit(SUBJECT, new Uint8Array(10), [], Date.now(), () => undefined),
    'then nothing fits',
  );
});

t.test('an authentic envelope verifies on the worker against the roots it was given', async (t) => {
  const pki = await makeTestPki(TD);
  const cp = await pki.issueSvid(controlPlaneId(TD));
  const now = Date.now();
  const bytes = await signEvent({
    event: { type: 'bundle.updated', roots: [pki.root.der], bundleSequence: 3, refreshHintSeconds: 60 },
    trustDomain: TD,
    sequence: 9,
    issuedAt: now,
    signer: { chainDer: [cp.der, pki.intermediate.der], privateKey: cp.key.privateKey },
  });
  const verifier = new EventVerifier({ trustDomain: TD });
  t.teardown(() => verifier.close());
  const verify = (roots: readonly Uint8Array[]) =>
    new Promise<VerifierResult>((resolve) => verifier.submit(SUBJECT, bytes, roots, now, resolve));
  t.match(await verify([pki.root.der]), { ok: true, kind: 'bundle', sequence: 9, issuedAt: now });
  const other = await makeTestPki(TD);
  t.match(await verify([other.root.der]), { ok: false, reason: 'untrusted-signer' }, 'new roots reach the worker');
});

t.test('closed, it takes nothing', async (t) => {
  const verifier = new EventVerifier({ trustDomain: TD });
  await verifier.close();
  t.notOk(verifier.submit(SUBJECT, new Uint8Array([1]), [], Date.now(), () => undefined));
});

t.test(
  'the worker loads what verifying an envelope needs: no generated protobuf classes, no gRPC, no NATS',
  async (t) => {
    // Each module the worker imports is paid again in its own V8 isolate: the generated classes and gRPC definitions
    // cost it about 8 MB of RSS (docs/benchmarks.md, Footprint). Importing the worker outside a thread loads its whole
    // graph, then it refuses to run.
    const worker = fileURLToPath(new URL('./event-verifier-worker.ts', import.meta.url));
    const recorded = await runRecordingModules(['-e', `import(${JSON.stringify(worker)}).catch(() => {})`]);
    t.equal(recorded.code, 0, recorded.stderr);
    t.ok(
      projectFiles(recorded.modules).includes('common/events/verify-envelope.ts'),
      'the recording saw the worker graph',
    );
    const generated = projectFiles(recorded.modules).filter((f) => f.startsWith('proto/'));
    t.same(generated, [], 'no module under proto/');
    const packages = [...packagesOf(recorded.modules)].sort();
    t.same(
      packages.filter((p) => ['@grpc/grpc-js', 'nats', 'zod', 'pino', 'prom-client'].includes(p)),
      [],
      `packages: ${packages.join(', ')}`,
    );
  },
);
