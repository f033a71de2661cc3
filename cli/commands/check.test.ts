import t from 'tap';
import { checkFindings } from './check.ts';

const now = Date.UTC(2026, 10, 29);
const day = 86_400_000;
const ca = (kind: string, days: number, status = 'active') => ({
  kind,
  serial: `${kind}-1`,
  notAfter: now + days * day,
  status,
});

t.test('sigil check rules', async (t) => {
  const cases: Array<[string, Parameters<typeof checkFindings>[0], Array<[string, string]>]> = [
    [
      'healthy',
      { now, cas: [ca('root', 3000), ca('intermediate', 300)], defaultAction: 'deny', policyCount: 2 },
      [
        ['root expiry', 'ok'],
        ['intermediate expiry', 'ok'],
        ['policies', 'ok'],
      ],
    ],
    [
      'intermediate expiring soon',
      { now, cas: [ca('intermediate', 10)], defaultAction: 'deny', policyCount: 1 },
      [['intermediate expiry', 'warning']],
    ],
    ['expired root', { now, cas: [ca('root', -1)], defaultAction: 'deny', policyCount: 1 }, [['root expiry', 'error']]],
    [
      'revoked CAs are not checked',
      { now, cas: [ca('intermediate', -5, 'revoked')], defaultAction: 'deny', policyCount: 1 },
      [],
    ],
    [
      'defaultAction allow is flagged',
      { now, cas: [], defaultAction: 'allow', policyCount: 5 },
      [['policy default', 'warning']],
    ],
    [
      'deny with no policies refuses everything',
      { now, cas: [], defaultAction: 'deny', policyCount: 0 },
      [['policies', 'warning']],
    ],
    [
      'a rotation in progress is reported',
      { now, cas: [], defaultAction: 'deny', policyCount: 1, caRotation: { phase: 'prepared' } },
      [['CA rotation', 'ok']],
    ],
    [
      'automatic rotation blocked by an offline root',
      {
        now,
        cas: [],
        defaultAction: 'deny',
        policyCount: 1,
        caRotation: { phase: 'stable', scheduledStep: 'blocked', scheduledAt: now },
      },
      [['CA rotation', 'warning']],
    ],
    [
      'the next automatic step is shown',
      {
        now,
        cas: [],
        defaultAction: 'deny',
        policyCount: 1,
        caRotation: { phase: 'stable', scheduledStep: 'prepare', scheduledAt: now + day },
      },
      [['CA rotation schedule', 'ok']],
    ],
  ];
  for (const [name, input, expected] of cases) {
    const got = checkFindings(input);
    t.equal(got[0]?.check, 'connectivity', `${name}: connectivity first`);
    for (const [check, severity] of expected)
      t.equal(got.find((f) => f.check === check)?.severity, severity, `${name}: ${check}`);
    if (expected.length === 0)
      t.equal(got.filter((f) => f.check.endsWith('expiry')).length, 0, `${name}: nothing about expiry`);
  }
});

t.test('with the control plane down, sigil check still prints every local check and exits 1', async (t) => {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { initCa } = await import('../../control-plane/index.ts');
  const { runCli } = await import('../program.ts');
  const dir = await mkdtemp(join(tmpdir(), 'sigil-check-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await initCa({ dataDir: dir, trustDomain: 'example.org', keyType: 'ec-p256', passphrase: 'x', now: Date.now() });
  let stdout = '';
  let stderr = '';
  const code = await runCli(['check', '--data-dir', dir, '--control-plane', '127.0.0.1:1'], {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: {},
    cwd: dir,
  });
  t.equal(code, 1, stderr);
  t.match(stdout, /^ERROR\s+connectivity: .*unreachable.*skipped the checks that need it/m);
  t.match(stdout, /^OK\s+root expiry \(local\): .*root\.pem: [0-9a-f]+ expires in \d+ days$/m);
  t.match(stdout, /^OK\s+intermediate expiry \(local\): /m);
  t.match(stdout, /^OK\s+admin credential: /m);
});
