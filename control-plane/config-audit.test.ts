import t from 'tap';
import { ErrorCode } from '../common/errors.ts';
import { resolveControlPlaneConfig } from './config.ts';

const base = { env: {}, flags: {}, cwd: '/work' };

t.test('audit retention and fleet thresholds: defaults, from cp.yaml, refused when not durations', async (t) => {
  const d = resolveControlPlaneConfig(base);
  t.same(d.audit, { retentionMs: 365 * 86_400_000 });
  t.same(d.fleet, { staleAfterMs: 300_000, forgetAfterMs: 7 * 86_400_000 });
  const text = 'audit: { retention: 30d }\nfleet: { staleAfter: 2m, forgetAfter: 1d }\n';
  const c = resolveControlPlaneConfig({ ...base, file: { path: 'cp.yaml', text } });
  t.same(c.audit, { retentionMs: 30 * 86_400_000 });
  t.same(c.fleet, { staleAfterMs: 120_000, forgetAfterMs: 86_400_000 });
  t.throws(
    () => resolveControlPlaneConfig({ ...base, file: { path: 'cp.yaml', text: 'audit: { retention: 30 }\n' } }),
    { code: ErrorCode.CONFIG_INVALID },
  );
  t.throws(() => resolveControlPlaneConfig({ ...base, file: { path: 'cp.yaml', text: 'audit: { keep: 30d }\n' } }), {
    code: ErrorCode.CONFIG_INVALID,
  });
});
