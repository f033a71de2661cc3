import t from 'tap';
import { createLogger } from '../../../common/logger.ts';
import { httpBytes } from '../http-bytes.ts';
import { TIMESTAMP_QUERY, TIMESTAMP_REPLY, TsaHttpServer } from './tsa-http-server.ts';

// The HTTP edge of the TSA (RFC 3161 section 3.4): only POSTed timestamp queries of bounded size reach the TSA.
const seen: Array<{ body: number[]; client: string }> = [];
const server = new TsaHttpServer({
  respond: async (body, client) => {
    seen.push({ body: [...body], client });
    return Uint8Array.of(0x30, 0x00);
  },
  logger: createLogger({ component: 'tsa', level: 'silent' }),
});
const { port } = await server.listen({ host: '127.0.0.1', port: 0 });
t.teardown(() => server.close());
const url = new URL(`http://127.0.0.1:${port}/`);
const post = (body: Uint8Array, type = TIMESTAMP_QUERY) =>
  httpBytes(url, { method: 'POST', body, headers: { 'content-type': type }, timeoutMs: 5000 });

t.test('a timestamp query reaches the TSA and its reply goes back as timestamp-reply', async (t) => {
  const res = await post(Uint8Array.of(1, 2, 3));
  t.equal(res.status, 200);
  t.equal(res.contentType, TIMESTAMP_REPLY);
  t.same([...res.body], [0x30, 0x00]);
  t.same(seen.at(-1), { body: [1, 2, 3], client: '127.0.0.1' });
});

t.test('everything else is refused before the TSA sees it', async (t) => {
  const before = seen.length;
  t.equal((await post(Uint8Array.of(1), 'application/octet-stream')).status, 415, 'wrong content type');
  t.equal((await post(new Uint8Array(17 * 1024))).status, 413, 'a body over 16 KiB');
  t.equal((await httpBytes(url, { method: 'GET', timeoutMs: 5000 })).status, 405, 'GET on the query path');
  t.equal(seen.length, before, 'none of them reached the TSA');
  const health = await httpBytes(new URL('/healthz', url), { method: 'GET', timeoutMs: 5000 });
  t.equal(health.status, 200, '/healthz answers for probes');
});
