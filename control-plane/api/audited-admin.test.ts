import t from 'tap';
import { Metadata, type sendUnaryData, type ServerUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { silentLogger } from '../../common/logger.ts';
import type { AdminServer } from '../../proto/index.ts';
import type { AuditInput } from '../audit/audit-log.ts';
import { audited, REQUEST_ID_METADATA_KEY } from './audited-admin.ts';
import { unary } from './unary.ts';

const edge = { logger: silentLogger(), onRefused: () => undefined };
const refuse = (code: ErrorCode) => async (): Promise<never> => {
  throw new SigilError(code, `refused with ${code}`);
};

/** A few handlers shaped like the real ones (through unary(), so errors carry their code in the metadata). */
function server(): AdminServer {
  return {
    createJoinToken: unary('CreateJoinToken', edge, async () => ({ token: 'jt-secret', id: 'abc123' })),
    revokeJoinToken: unary('RevokeJoinToken', edge, refuse(ErrorCode.NOT_FOUND)),
    listCertificates: unary('ListCertificates', edge, async () => ({ certificates: [] })),
    getCertificate: unary('GetCertificate', edge, refuse(ErrorCode.INVALID_ARGUMENT)),
    listPolicies: unary('ListPolicies', edge, refuse(ErrorCode.PEER_NOT_ADMIN)),
    revoke: unary('Revoke', edge, refuse(ErrorCode.INTERNAL)),
    acknowledgeAlert: unary('AcknowledgeAlert', edge, async () => ({})),
  } as unknown as AdminServer;
}

function call(request: unknown, requestId?: string): ServerUnaryCall<unknown, unknown> {
  const metadata = new Metadata();
  if (requestId !== undefined) metadata.set(REQUEST_ID_METADATA_KEY, requestId);
  return {
    request,
    metadata,
    getAuthContext: () => ({}),
    getPeer: () => '127.0.0.1:1',
  } as unknown as ServerUnaryCall<unknown, unknown>;
}

interface Answer {
  err: ServiceError | null;
  value: unknown;
  trailer: Metadata | undefined;
}

async function invoke(wrapped: AdminServer, method: string, request: unknown, requestId?: string): Promise<Answer> {
  return new Promise((resolve) => {
    const handler = (wrapped as unknown as Record<string, (c: unknown, cb: sendUnaryData<unknown>) => void>)[method];
    handler?.(call(request, requestId), (err, value, trailer) =>
      resolve({ err: err as ServiceError | null, value, trailer }),
    );
  });
}

function setup(fail = false) {
  const entries: AuditInput[] = [];
  const wrapped = audited(server(), {
    trustDomain: 'example.org',
    logger: silentLogger(),
    audit: {
      record: async (e) => {
        if (fail) throw new Error('store down');
        entries.push(e);
        return { ...e, id: String(entries.length), at: new Date(0) };
      },
    },
  });
  return { entries, wrapped };
}

t.test(
  'a change that succeeds is recorded with target, result and request id; the answer carries the id',
  async (t) => {
    const { entries, wrapped } = setup();
    const answer = await invoke(
      wrapped,
      'createJoinToken',
      { spiffeId: 'spiffe://example.org/a', prefix: false },
      'r-1',
    );
    t.equal(answer.err, null);
    t.equal(answer.trailer?.get(REQUEST_ID_METADATA_KEY)[0], 'r-1');
    t.same(entries, [
      {
        actor: 'anonymous',
        action: 'token.create',
        requestId: 'r-1',
        target: 'spiffe://example.org/a (token abc123)',
        result: 'ok',
      },
    ]);
    t.notMatch(JSON.stringify(entries), /jt-secret/, 'never the token');
  },
);

t.test('which calls are recorded, and as what', async (t) => {
  const cases: [string, unknown, Partial<AuditInput> | undefined][] = [
    ['listCertificates', {}, undefined],
    ['getCertificate', { serial: 'zz' }, undefined],
    ['listPolicies', {}, { action: 'policy.list', result: 'refused' }],
    ['revokeJoinToken', { id: 'jt-the-token-itself' }, { action: 'token.revoke', result: 'refused', target: 'token' }],
    ['revoke', { serial: 'ab', spiffeId: '' }, { action: 'revoke', result: 'failed', target: 'serial ab' }],
    ['acknowledgeAlert', {}, { action: 'acknowledgeAlert', result: 'ok' }],
  ];
  for (const [method, request, expected] of cases) {
    const { entries, wrapped } = setup();
    await invoke(wrapped, method, request);
    if (!expected) {
      t.same(entries, [], `${method}: a read that was not refused for who called is not recorded`);
      continue;
    }
    t.equal(entries.length, 1, method);
    t.match(entries[0], expected, method);
  }
});

t.test('a refusal keeps its code in the detail and the request id in the error metadata', async (t) => {
  const { entries, wrapped } = setup();
  const answer = await invoke(wrapped, 'listPolicies', {}, 'bad id with spaces');
  t.match(entries[0]?.detail, /^SIGIL_ERR_PEER_NOT_ADMIN: refused/);
  const id = answer.err?.metadata?.get(REQUEST_ID_METADATA_KEY)[0];
  t.match(id, /^[0-9a-f-]{36}$/, 'a malformed id sent by the client is replaced');
  t.equal(entries[0]?.requestId, id);
});

t.test('an audit log that cannot be written does not change the answer', async (t) => {
  const { wrapped } = setup(true);
  const answer = await invoke(wrapped, 'createJoinToken', { spiffeId: 'spiffe://example.org/a' });
  t.equal(answer.err, null);
  t.match(answer.value, { id: 'abc123' });
});
