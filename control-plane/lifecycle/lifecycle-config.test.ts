import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../../common/errors.ts';
import { resolveControlPlaneConfig } from '../config.ts';

const dir = mkdtempSync(join(tmpdir(), 'sigil-lifecycle-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'hook-secret'), 's3cret\n');
writeFileSync(join(dir, 'empty-secret'), '');

const load = (text: string) =>
  resolveControlPlaneConfig({ file: { path: join(dir, 'cp.yaml'), text }, env: {}, flags: {}, cwd: dir });

t.test('defaults: alerts every 5 minutes at 30/14/7 days, no webhooks, no discovery', async (t) => {
  const c = load('dataDir: ./data\n');
  t.equal(c.alerts.everyMs, 300_000);
  t.same(c.alerts.policy.daysBefore, [30, 14, 7]);
  t.same(c.alerts.webhooks, []);
  t.same(c.discovery, { targets: [], everyMs: 21_600_000, timeoutMs: 5000 });
});

t.test('webhook secrets come from files, relative to the config file; thresholds and schedules are read', async (t) => {
  const c = load(`alerts:
  every: 1m
  daysBefore: [60, 10]
  criticalWithinDays: 10
  webhooks: [{ url: https://hooks.example.com/x, secretFile: hook-secret, maxAttempts: 3 }]
discovery: { targets: [www.example.com:443], every: 1h }
`);
  t.equal(c.alerts.everyMs, 60_000);
  t.same(c.alerts.policy.daysBefore, [60, 10]);
  t.equal(c.alerts.policy.criticalWithinDays, 10);
  t.match(c.alerts.webhooks[0], { url: 'https://hooks.example.com/x', secret: 's3cret', maxAttempts: 3 });
  t.same(c.discovery.targets, ['www.example.com:443']);
  t.equal(c.discovery.everyMs, 3_600_000);
});

t.test('bad sections are refused with what was wrong', async (t) => {
  const cases: [string, RegExp][] = [
    ['alerts: { webhooks: [{ url: ftp://x, secretFile: hook-secret }] }', /http:\/\/ or https:\/\//],
    [
      'alerts: { webhooks: [{ url: https://x, secretFile: missing }] }',
      /cannot read the secret file .*missing \(ENOENT\)/,
    ],
    ['alerts: { webhooks: [{ url: https://x, secretFile: empty-secret }] }', /secret file .*empty-secret is empty/],
    ['alerts: { webhooks: [{ url: https://x, secret: inline }] }', /secret/],
    ['discovery: { targets: [no-port] }', /HOST:PORT/],
    ['alerts: { every: soon }', /every/],
  ];
  for (const [text, message] of cases) {
    t.throws(() => load(text), { code: ErrorCode.CONFIG_INVALID, message }, text);
  }
});
