import t from 'tap';
import { routeAdminRequest, type AdminRouteDeps } from './admin-routes.ts';

const deps = (ready: boolean): AdminRouteDeps => ({
  readiness: () => ({ ready, checks: { svid: { ok: ready, detail: ready ? 'valid until 12:00' : 'no SVID yet' } } }),
  metrics: async () => ({ contentType: 'text/plain; version=0.0.4', body: 'sigil_up 1\n' }),
  extra: { '/crl': async () => ({ status: 200, contentType: 'application/pkix-crl', body: new Uint8Array([1]) }) },
});

t.test('health, readiness with reasons, metrics, extra routes', async (t) => {
  t.equal((await routeAdminRequest('GET', '/healthz', deps(false))).status, 200);
  const notReady = await routeAdminRequest('GET', '/readyz', deps(false));
  t.equal(notReady.status, 503);
  t.match(String(notReady.body), /no SVID yet/);
  t.equal((await routeAdminRequest('GET', '/readyz?verbose=1', deps(true))).status, 200);
  const metrics = await routeAdminRequest('GET', '/metrics', deps(true));
  t.equal(metrics.body, 'sigil_up 1\n');
  t.equal((await routeAdminRequest('GET', '/crl', deps(true))).contentType, 'application/pkix-crl');
  t.equal((await routeAdminRequest('GET', '/nope', deps(true))).status, 404);
  t.equal((await routeAdminRequest('POST', '/healthz', deps(true))).status, 405);
});
