import t from 'tap';
import { ErrorCode, isSigilError, type SigilError } from '../../common/errors.ts';
import { type PrivatePostgres, startPrivatePostgres } from '../../test/fixtures/private-postgres.ts';
import { PostgresStore } from './postgres-store.ts';

// One private PostgreSQL server (password authentication) for the whole file: it is stopped and crashed here.
let server: PrivatePostgres;
t.before(async () => {
  server = await startPrivatePostgres();
});
t.teardown(() => server.destroy());

const API = 'spiffe://example.org/ns/prod/sa/api';

t.test('a wrong password is refused with what to check, and the password is never repeated', async (t) => {
  const wrong = server.url.replace(server.password, 'not-the-password');
  const store = new PostgresStore({ url: wrong });
  const err = await store.open().then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(isSigilError(err, ErrorCode.CONFIG_INVALID), 'CONFIG_INVALID');
  t.match(
    (err as Error).message,
    /refused user postgres.*check the user and password in store\.postgres\.url or urlFile/,
  );
  const text = `${(err as Error).message} ${JSON.stringify((err as SigilError).details)}`;
  t.notMatch(text, /not-the-password/);
  t.notMatch(text, new RegExp(server.password));
});

t.test(
  'PostgreSQL restarting under load: writes fail as UNAVAILABLE meanwhile, none acknowledged is lost',
  async (t) => {
    const store = new PostgresStore({ url: server.url, schema: 'restart', connectTimeoutMs: 1000 });
    await store.open();
    t.teardown(() => store.close());
    const acknowledged: number[] = [];
    const failures = new Map<string, number>();
    let stop = false;
    let written = 0;
    const worker = async () => {
      while (!stop) {
        const n = ++written;
        try {
          await store.insertJoinToken({
            tokenHash: `h${n}`,
            spiffeId: API,
            createdAt: 0,
            expiresAt: 1,
            usesRemaining: 1,
          });
          acknowledged.push(n);
        } catch (err) {
          const code = (err as SigilError).code ?? 'uncoded';
          failures.set(code, (failures.get(code) ?? 0) + 1);
          // The outage is what this test waits out; the next attempt is the retry a caller would make.
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    };
    const workers = Array.from({ length: 4 }, worker);
    const ackedBefore = async (count: number) => {
      while (acknowledged.length < count) await new Promise((resolve) => setImmediate(resolve));
    };
    await ackedBefore(50);
    await server.stop();
    await server.start();
    const afterRestart = acknowledged.length;
    await ackedBefore(afterRestart + 50);
    await server.crash();
    await server.start();
    const afterCrash = acknowledged.length;
    await ackedBefore(afterCrash + 50);
    stop = true;
    await Promise.all(workers);
    t.same(
      [...failures.keys()].filter((c) => c !== ErrorCode.UNAVAILABLE),
      [],
      'every failure is UNAVAILABLE',
    );
    t.ok((failures.get(ErrorCode.UNAVAILABLE) ?? 0) > 0, 'the outages were seen');
    for (const n of acknowledged) {
      if (!(await store.getJoinToken(`h${n}`))) t.fail(`acknowledged token h${n} is missing`);
    }
    t.pass(`${acknowledged.length} acknowledged writes all present after a restart and a crash`);
    t.equal(await store.nextSequence('after'), 1, 'the store works on');
  },
);
