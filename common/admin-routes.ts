/**
 * The health and metrics surface every Sigil process serves (`/healthz`, `/readyz`, `/metrics`), as a pure
 * router; the components own the HTTP listener.
 */
export interface Readiness {
  readonly ready: boolean;
  /** Named checks with a short human explanation, shown in `/readyz` so operators see why. */
  readonly checks: Readonly<Record<string, { readonly ok: boolean; readonly detail: string }>>;
}

export interface AdminRouteDeps {
  readonly readiness: () => Readiness;
  readonly metrics: () => Promise<{ readonly contentType: string; readonly body: string }>;
  /** Extra routes (e.g. `/crl`), matched by exact path. */
  readonly extra?: Readonly<Record<string, () => Promise<AdminResponse>>>;
}

export interface AdminResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string | Uint8Array;
}

const json = (status: number, value: unknown): AdminResponse => ({
  status,
  contentType: 'application/json',
  body: `${JSON.stringify(value)}\n`,
});

export async function routeAdminRequest(method: string, url: string, deps: AdminRouteDeps): Promise<AdminResponse> {
  const path = url.split('?')[0] ?? '/';
  if (method !== 'GET' && method !== 'HEAD') return json(405, { error: 'method not allowed: use GET' });
  switch (path) {
    case '/healthz':
      return json(200, { status: 'ok' });
    case '/readyz': {
      const r = deps.readiness();
      return json(r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', checks: r.checks });
    }
    case '/metrics': {
      const m = await deps.metrics();
      return { status: 200, contentType: m.contentType, body: m.body };
    }
    default: {
      const route = deps.extra?.[path];
      return route ? route() : json(404, { error: `no route ${path}: try /healthz, /readyz or /metrics` });
    }
  }
}
