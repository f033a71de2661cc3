import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { DashboardAudit, DashboardData, InventoryPageQuery, Json } from './dashboard-data.ts';
import type { Session } from './session-codec.ts';

export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  /** Parsed JSON body of a POST ({} when empty). */
  readonly body: Record<string, unknown>;
  readonly session: Session;
  readonly requestId: string;
}

export interface ApiDeps {
  readonly data: DashboardData;
  readonly audit: DashboardAudit;
  readonly trustDomain: string;
  readonly csrfToken: (sessionId: string) => string;
}

type Handler = (r: ApiRequest, deps: ApiDeps) => Promise<Json>;

const bad = (message: string) => new SigilError(ErrorCode.INVALID_ARGUMENT, message);

function text(body: Record<string, unknown>, name: string): string {
  const v = body[name];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw bad(`${name} must be a string`);
  return v.trim();
}

function int(value: string | null, name: string, fallback: number): number {
  if (value === null || value === '') return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw bad(`${name} must be a whole number, got ${JSON.stringify(value)}`);
  return n;
}

/**
 * An action taken from the browser: done with the session's admin as the actor, audited whatever its outcome, the
 * audit entry carrying the same request id as the response.
 */
async function audited(
  r: ApiRequest,
  deps: ApiDeps,
  action: string,
  target: string,
  work: () => Promise<Json>,
): Promise<Json> {
  try {
    const result = await work();
    await deps.audit.record({ actor: r.session.spiffeId, action, target, result: 'ok', requestId: r.requestId });
    return result;
  } catch (err) {
    const refused = err instanceof SigilError && err.code !== ErrorCode.INTERNAL;
    await deps.audit.record({
      actor: r.session.spiffeId,
      action,
      target,
      result: refused ? 'refused' : 'failed',
      requestId: r.requestId,
      detail: refused ? err.message : 'internal error',
    });
    throw err;
  }
}

const GET: Record<string, Handler> = {
  '/api/session': async (r, deps) => ({
    admin: r.session.spiffeId,
    trustDomain: deps.trustDomain,
    csrfToken: deps.csrfToken(r.session.id),
  }),
  '/api/overview': (_r, d) => d.data.overview(),
  '/api/sidecars': (_r, d) => d.data.sidecars(),
  '/api/inventory': (r, d) => {
    const q = r.query;
    const sort = q.get('sort') ?? 'notAfter';
    if (!['notAfter', 'name', 'source', 'status', 'kind'].includes(sort))
      throw bad('sort must be one of notAfter, name, source, status, kind');
    const query: InventoryPageQuery = {
      q: q.get('q') ?? '',
      source: q.get('source') ?? '',
      status: q.get('status') ?? '',
      kind: q.get('kind') ?? '',
      sort: sort as InventoryPageQuery['sort'],
      order: q.get('order') === 'desc' ? 'desc' : 'asc',
      offset: int(q.get('offset'), 'offset', 0),
      limit: Math.min(int(q.get('limit'), 'limit', 50), 200),
    };
    return d.data.inventory(query);
  },
  '/api/certificate': async (r, d) => {
    const id = r.query.get('id') ?? '';
    const found = await d.data.certificate(id);
    if (!found) throw new SigilError(ErrorCode.NOT_FOUND, `no certificate ${id} in the inventory`);
    return found;
  },
  '/api/policies': (_r, d) => d.data.policies(),
  '/api/policy-version': async (r, d) => {
    const version = int(r.query.get('version'), 'version', 0);
    const found = await d.data.policyVersion(version);
    if (!found) throw new SigilError(ErrorCode.NOT_FOUND, `no policy version ${version}`);
    return found;
  },
  '/api/revocations': (_r, d) => d.data.revocations(),
  '/api/ca': (_r, d) => d.data.ca(),
  '/api/alerts': (_r, d) => d.data.alerts(),
  '/api/audit': (r, d) => {
    const since = r.query.get('since');
    const actor = r.query.get('actor');
    const after = r.query.get('after');
    return d.data.audit({
      ...(since ? { since: int(since, 'since', 0) } : {}),
      ...(actor ? { actor } : {}),
      ...(after ? { after } : {}),
      limit: Math.min(int(r.query.get('limit'), 'limit', 100), 500),
    });
  },
};

const POST: Record<string, Handler> = {
  '/api/explain': (r, d) => {
    const from = text(r.body, 'from');
    const to = text(r.body, 'to');
    const port = int(String(r.body['port'] ?? ''), 'port', 0);
    if (port > 65535) throw bad('port must be 1-65535');
    return audited(r, d, 'policy.explain', `${from} -> ${to}${port ? `:${port}` : ''}`, () =>
      d.data.explain(from, to, port),
    );
  },
  '/api/revoke': (r, d) => {
    const serial = text(r.body, 'serial');
    const spiffeId = text(r.body, 'spiffeId');
    const target = serial || spiffeId;
    // The typed confirmation is checked here too: a script posting to the API confirms like a person does.
    if (target === '' || text(r.body, 'confirm') !== target)
      throw bad('type the serial or SPIFFE ID being revoked into the confirmation field');
    // Named as the Admin API's Revoke is in the log, so one query finds revocations from either.
    return audited(r, d, 'revoke', serial ? `serial ${serial}` : spiffeId, () =>
      d.data.revoke({
        ...(serial ? { serial } : { spiffeId }),
        reason: text(r.body, 'reason') || 'unspecified',
      }),
    );
  },
  '/api/rotate': (r, d) => {
    const spiffeId = text(r.body, 'spiffeId');
    const prefix = text(r.body, 'prefix');
    const all = r.body['all'] === true;
    const windowMs = int(String(r.body['windowMs'] ?? ''), 'windowMs', 60_000);
    return audited(r, d, 'rotate', all ? 'all' : prefix ? `${prefix}*` : spiffeId, () =>
      d.data.rotate({ ...(spiffeId ? { spiffeId } : {}), ...(prefix ? { prefix } : {}), all, windowMs }),
    );
  },
  '/api/policy-dry-run': (r, d) => {
    const yaml = text(r.body, 'yaml');
    if (yaml === '') throw bad('paste the policy YAML to try');
    return audited(r, d, 'policy.dry-run', 'policy.yaml', () => d.data.policyDryRun(yaml));
  },
  '/api/alert-ack': (r, d) => {
    const alertId = text(r.body, 'alertId');
    if (alertId === '') throw bad('name the alert to acknowledge');
    return audited(r, d, 'alert.acknowledge', alertId, () =>
      d.data.acknowledge(alertId, r.session.spiffeId, r.requestId),
    );
  },
};

/** undefined: no such route. */
export function apiHandler(method: string, path: string): Handler | undefined {
  if (method === 'GET' || method === 'HEAD') return GET[path];
  if (method === 'POST') return POST[path];
  return undefined;
}
