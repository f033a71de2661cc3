import t from 'tap';
import { Writable } from 'node:stream';
import type { ServerUnaryCall } from '@grpc/grpc-js';
import { ErrorCode, SigilError } from '../common/errors.ts';
import { createLogger } from '../common/logger.ts';
import { unary } from '../control-plane/api/unary.ts';
import { resolveDeps } from '../sidecar/proxy/proxy-options.ts';

// Issue 20 (point 7): a JSON line with a key twice keeps only the last value in most parsers, so the process's
// `component` or the message was lost. Each line must name every key once.
function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, logger: createLogger({ component: 'sidecar', level: 'debug', destination }) };
}

function repeatedKeys(line: string): string[] {
  const keys = [...line.matchAll(/"([^"\\]+)":/g)].map((m) => m[1] as string);
  return keys.filter((k, i) => keys.indexOf(k) !== i);
}

t.test('listener loggers keep the process component and name the listener separately', async (t) => {
  const { lines, logger } = capture();
  const deps = resolveDeps({ logger } as unknown as Parameters<typeof resolveDeps>[0], 'inbound');
  deps.logger.info({ peer: 'spiffe://example.org/a' }, 'connection opened');
  await new Promise((r) => setImmediate(r));
  t.equal(lines.length, 1);
  t.same(repeatedKeys(lines[0] ?? ''), []);
  t.match(JSON.parse(lines[0] ?? '{}'), { component: 'sidecar', subsystem: 'inbound', msg: 'connection opened' });
});

t.test('a refused gRPC request is logged with one msg and the error text in its own field', async (t) => {
  const { lines, logger } = capture();
  const handler = unary('Renew', { logger, onRefused: () => undefined }, async () => {
    throw new SigilError(ErrorCode.REVOKED, 'certificate 01 is revoked');
  });
  await new Promise<void>((resolve) =>
    handler({ request: {}, getPeer: () => 'ipv4:127.0.0.1:1' } as unknown as ServerUnaryCall<object, object>, () =>
      resolve(),
    ),
  );
  await new Promise((r) => setImmediate(r));
  // At debug level the request is also logged as received (the demo times pushes from that line).
  const refused = lines.filter((l) => (JSON.parse(l) as { msg?: string }).msg === 'request refused');
  t.equal(refused.length, 1);
  for (const line of lines) t.same(repeatedKeys(line), [], line);
  t.match(JSON.parse(refused[0] ?? '{}'), { msg: 'request refused', error: 'certificate 01 is revoked' });
});
