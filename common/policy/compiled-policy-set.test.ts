import t from 'tap';
import { ErrorCode } from '../errors.ts';
import type { AllowPolicy, AllowRule, DefaultAction, PolicyMode } from './allow-policy.ts';
import { compilePolicySet } from './compiled-policy-set.ts';

const E = 'spiffe://example.org';
const policy = (name: string, destination: string, allow: AllowRule[], mode: PolicyMode = 'enforce'): AllowPolicy => ({
  name,
  destination,
  mode,
  allow,
});

const POLICIES: AllowPolicy[] = [
  policy('web-to-api', `${E}/ns/prod/sa/api`, [
    { from: `${E}/ns/prod/sa/web` },
    { from: `${E}/ns/batch/*`, ports: [8443] },
  ]),
  policy('monitoring', `${E}/ns/prod/**`, [{ from: `${E}/ns/mon/sa/prom`, ports: [9090] }]),
  policy('audit-db', `${E}/ns/prod/sa/db`, [{ from: `${E}/ns/prod/sa/api` }], 'audit'),
  policy('legacy', `${E}/ns/legacy/*`, [{ from: `${E}/ns/legacy/**` }], 'audit'),
  policy('qa-trial', `${E}/ns/prod/sa/api`, [{ from: `${E}/ns/qa/sa/tester` }], 'audit'),
  policy('overlap', `${E}/ns/shop/sa/cart`, [{ from: `${E}/ns/shop/*` }, { from: `${E}/ns/shop/ui` }]),
];

const compiled = (defaultAction: DefaultAction = 'deny') =>
  compilePolicySet({ version: 3, policies: POLICIES, defaultAction });

t.test('decide: exact, *, **, ports, audit, precedence, default deny', async (t) => {
  const set = compiled();
  const cases: {
    name: string;
    from: string;
    to: string;
    port?: number;
    decision: string;
    policy?: string;
    rule?: number;
  }[] = [
    {
      name: 'exact caller, any port',
      from: `${E}/ns/prod/sa/web`,
      to: `${E}/ns/prod/sa/api`,
      port: 443,
      decision: 'allow',
      policy: 'web-to-api',
      rule: 0,
    },
    {
      name: 'exact caller without a port',
      from: `${E}/ns/prod/sa/web`,
      to: `${E}/ns/prod/sa/api`,
      decision: 'allow',
      policy: 'web-to-api',
      rule: 0,
    },
    {
      name: '* matches one segment on the listed port',
      from: `${E}/ns/batch/job`,
      to: `${E}/ns/prod/sa/api`,
      port: 8443,
      decision: 'allow',
      policy: 'web-to-api',
      rule: 1,
    },
    {
      name: '* does not match two segments',
      from: `${E}/ns/batch/sa/job`,
      to: `${E}/ns/prod/sa/api`,
      port: 8443,
      decision: 'deny',
      policy: 'web-to-api',
    },
    {
      name: '* does not match zero segments',
      from: `${E}/ns/batch`,
      to: `${E}/ns/prod/sa/api`,
      port: 8443,
      decision: 'deny',
      policy: 'web-to-api',
    },
    {
      name: 'wrong port',
      from: `${E}/ns/batch/job`,
      to: `${E}/ns/prod/sa/api`,
      port: 80,
      decision: 'deny',
      policy: 'web-to-api',
    },
    {
      name: 'no port given to a port-restricted rule',
      from: `${E}/ns/batch/job`,
      to: `${E}/ns/prod/sa/api`,
      decision: 'deny',
      policy: 'web-to-api',
    },
    {
      name: '** destination, deep',
      from: `${E}/ns/mon/sa/prom`,
      to: `${E}/ns/prod/a/b/c`,
      port: 9090,
      decision: 'allow',
      policy: 'monitoring',
      rule: 0,
    },
    {
      name: '** destination also covers exact-named ones',
      from: `${E}/ns/mon/sa/prom`,
      to: `${E}/ns/prod/sa/api`,
      port: 9090,
      decision: 'allow',
      policy: 'monitoring',
      rule: 0,
    },
    {
      name: '** needs at least one segment',
      from: `${E}/ns/mon/sa/prom`,
      to: `${E}/ns/prod`,
      port: 9090,
      decision: 'deny',
    },
    {
      name: 'audit-only destination, no rule: audit-deny',
      from: `${E}/ns/prod/sa/web`,
      to: `${E}/ns/legacy/app`,
      decision: 'audit-deny',
      policy: 'legacy',
    },
    {
      name: 'audit-only destination, ** caller allowed',
      from: `${E}/ns/legacy/a/b`,
      to: `${E}/ns/legacy/app`,
      decision: 'allow',
      policy: 'legacy',
      rule: 0,
    },
    {
      name: 'enforce beats audit for the denial',
      from: `${E}/ns/prod/sa/web`,
      to: `${E}/ns/prod/sa/db`,
      port: 5432,
      decision: 'deny',
      policy: 'monitoring',
    },
    {
      name: 'an audit policy rule still allows',
      from: `${E}/ns/prod/sa/api`,
      to: `${E}/ns/prod/sa/db`,
      port: 5432,
      decision: 'allow',
      policy: 'audit-db',
      rule: 0,
    },
    {
      name: 'second policy on the same destination allows',
      from: `${E}/ns/qa/sa/tester`,
      to: `${E}/ns/prod/sa/api`,
      port: 1,
      decision: 'allow',
      policy: 'qa-trial',
      rule: 0,
    },
    {
      name: 'lowest matching rule is named',
      from: `${E}/ns/shop/ui`,
      to: `${E}/ns/shop/sa/cart`,
      decision: 'allow',
      policy: 'overlap',
      rule: 0,
    },
    {
      name: 'default deny: no policy names the destination',
      from: `${E}/ns/prod/sa/web`,
      to: `${E}/ns/other/sa/x`,
      decision: 'deny',
    },
    {
      name: 'caller in another trust domain',
      from: 'spiffe://evil.org/ns/prod/sa/web',
      to: `${E}/ns/prod/sa/api`,
      decision: 'deny',
      policy: 'web-to-api',
    },
    {
      name: 'caller that is not a SPIFFE ID',
      from: 'garbage',
      to: `${E}/ns/prod/sa/api`,
      decision: 'deny',
      policy: 'web-to-api',
    },
    {
      name: 'case matters',
      from: `${E}/ns/prod/sa/WEB`,
      to: `${E}/ns/prod/sa/api`,
      decision: 'deny',
      policy: 'web-to-api',
    },
  ];
  for (const c of cases) {
    const d = set.decide(c.from, c.to, c.port);
    t.equal(d.decision, c.decision, `${c.name}: decision`);
    t.equal(d.policy, c.policy, `${c.name}: policy`);
    t.equal(d.rule, c.rule, `${c.name}: rule`);
    t.type(d.explanation, 'string');
  }
});

t.test('defaultAction allow applies only where no policy names the destination', async (t) => {
  const set = compiled('allow');
  t.same(set.decide(`${E}/a`, `${E}/ns/other/sa/x`, 80), {
    decision: 'allow',
    explanation: 'no policy for destination; defaultAction allow',
  });
  t.equal(set.decide(`${E}/a`, `${E}/ns/prod/sa/api`, 80).decision, 'deny');
  t.match(
    compiled('deny').decide(`${E}/a`, `${E}/ns/other/sa/x`, 80).explanation,
    /no policy for destination spiffe:\/\/example\.org\/ns\/other\/sa\/x; defaultAction deny/,
  );
});

t.test('an empty set denies everything; policiesFor lists enforce-mode first', async (t) => {
  t.equal(
    compilePolicySet({ version: 0, policies: [], defaultAction: 'deny' }).decide(`${E}/a`, `${E}/b`, 1).decision,
    'deny',
  );
  t.same(
    compiled()
      .policiesFor(`${E}/ns/prod/sa/api`)
      .map((p) => p.name),
    ['web-to-api', 'monitoring', 'qa-trial'],
  );
});

t.test('compiling an unvalidated set with a bad pattern is refused', async (t) => {
  t.throws(
    () =>
      compilePolicySet({
        version: 1,
        defaultAction: 'deny',
        policies: [policy('x', `${E}/a/**/b`, [{ from: `${E}/a` }])],
      }),
    { code: ErrorCode.CONFIG_INVALID },
  );
});

t.test('explain names the allowing rule, or the closest miss', async (t) => {
  const set = compiled();
  const cases: {
    name: string;
    from: string;
    to: string;
    port?: number;
    closest?: { policy: string; rule?: number };
    text: RegExp;
  }[] = [
    {
      name: 'allowed',
      from: `${E}/ns/prod/sa/web`,
      to: `${E}/ns/prod/sa/api`,
      port: 1,
      text: /^allowed by policy "web-to-api" allow\[0\] \(from spiffe:\/\/example\.org\/ns\/prod\/sa\/web, any port\)$/,
    },
    {
      name: 'same caller, wrong port',
      from: `${E}/ns/batch/job`,
      to: `${E}/ns/prod/sa/api`,
      port: 80,
      closest: { policy: 'web-to-api', rule: 1 },
      text: /denied by enforce-mode policy "web-to-api"; closest: policy "web-to-api" allow\[1\] matches the caller .* but allows only port 8443, not 80$/,
    },
    {
      name: 'no port given',
      from: `${E}/ns/batch/job`,
      to: `${E}/ns/prod/sa/api`,
      closest: { policy: 'web-to-api', rule: 1 },
      text: /allows only port 8443; no port was given$/,
    },
    {
      name: 'same namespace prefix',
      from: `${E}/ns/prod/sa/webx`,
      to: `${E}/ns/prod/sa/api`,
      port: 1,
      closest: { policy: 'web-to-api', rule: 0 },
      text: /closest: policy "web-to-api" allow\[0\] \(from .*\/sa\/web\) shares spiffe:\/\/example\.org\/ns\/prod\/sa with the caller but differs at "webx"$/,
    },
    {
      name: 'one segment too many for *',
      from: `${E}/ns/batch/sa/job`,
      to: `${E}/ns/prod/sa/api`,
      port: 8443,
      closest: { policy: 'web-to-api', rule: 1 },
      text: /matches up to spiffe:\/\/example\.org\/ns\/batch\/sa but the caller goes on with "job"/,
    },
    {
      name: 'audit-deny explains too',
      from: `${E}/ns/prod/sa/web`,
      to: `${E}/ns/legacy/app`,
      closest: { policy: 'legacy', rule: 0 },
      text: /audit mode: let through and logged; closest: policy "legacy" allow\[0\]/,
    },
    {
      name: 'no policy: nearest destination',
      from: `${E}/ns/prod/sa/web`,
      to: `${E}/ns/shop/sa/basket`,
      closest: { policy: 'overlap' },
      text: /defaultAction deny; closest: the nearest policy is "overlap" for destination spiffe:\/\/example\.org\/ns\/shop\/sa\/cart, which shares .*\/ns\/shop\/sa with the destination/,
    },
  ];
  for (const c of cases) {
    const e = set.explain(c.from, c.to, c.port);
    t.match(e.explanation, c.text, `${c.name}: text`);
    t.same(
      e.closest && { policy: e.closest.policy, rule: e.closest.rule },
      c.closest && { rule: undefined, ...c.closest },
      `${c.name}: closest`,
    );
    t.equal(e.decision, set.decide(c.from, c.to, c.port).decision, `${c.name}: same decision as decide`);
  }
});
