import t from 'tap';
import { ErrorCode } from '../errors.ts';
import { sigil } from '../../proto/index.ts';
import type { AllowPolicy } from './allow-policy.ts';
import { compilePolicySet } from './compiled-policy-set.ts';
import { diffDecisions } from './diff-decisions.ts';
import { fromWirePolicySet, toWirePolicySet } from './policy-wire.ts';

const TD = 'example.org';
const E = `spiffe://${TD}`;
const POLICIES: AllowPolicy[] = [
  {
    name: 'web-to-api',
    destination: `${E}/ns/prod/sa/api`,
    mode: 'enforce',
    allow: [{ from: `${E}/ns/prod/sa/web` }, { from: `${E}/ns/batch/*`, ports: [8443, 9443] }],
  },
  { name: 'legacy', destination: `${E}/ns/legacy/**`, mode: 'audit', allow: [{ from: `${E}/**` }] },
];

t.test('round trip through protobuf bytes, from the input or the compiled set', async (t) => {
  const input = { version: 7, policies: POLICIES, defaultAction: 'deny' as const };
  for (const source of [input, compilePolicySet(input)]) {
    const wire = toWirePolicySet(source);
    t.same(wire.policies?.[0]?.allow?.[0]?.ports, [], 'absent ports go out as an empty list');
    const bytes = sigil.v1.PolicySet.encode(sigil.v1.PolicySet.create(wire)).finish();
    const decoded = sigil.v1.PolicySet.toObject(sigil.v1.PolicySet.decode(bytes), {
      defaults: true,
    }) as sigil.v1.IPolicySet;
    t.same(fromWirePolicySet(decoded, TD), input);
  }
});

t.test('wire defaults: empty defaultAction is deny, empty mode is enforce', async (t) => {
  const back = fromWirePolicySet(
    { version: 1, policies: [{ name: 'a', destination: `${E}/a`, mode: '', allow: [{ from: `${E}/b` }] }] },
    TD,
  );
  t.same(back, {
    version: 1,
    defaultAction: 'deny',
    policies: [{ name: 'a', destination: `${E}/a`, mode: 'enforce', allow: [{ from: `${E}/b` }] }],
  });
  t.equal(fromWirePolicySet({ version: 2, defaultAction: 'allow' }, TD).defaultAction, 'allow');
});

t.test('what comes off the wire is validated like documents, every problem listed', async (t) => {
  const cases: { name: string; wire: sigil.v1.IPolicySet; message: RegExp }[] = [
    {
      name: 'bad defaultAction',
      wire: { version: 1, defaultAction: 'maybe' },
      message: /defaultAction: defaultAction "maybe" must be "deny" or "allow"/,
    },
    { name: 'negative version', wire: { version: -1 }, message: /version: version -1 must be a non-negative integer/ },
    {
      name: 'missing name and destination',
      wire: { version: 1, policies: [{ allow: [{ from: `${E}/a` }] }] },
      message: /policies\.0\.name: name is required\n.*policies\.0\.destination: destination is required/,
    },
    {
      name: 'another trust domain',
      wire: { version: 1, policies: [{ name: 'a', destination: 'spiffe://other.org/a', allow: [{ from: `${E}/a` }] }] },
      message: /policies\.0\.destination: .*trust domain "other\.org"/,
    },
    {
      name: 'bad pattern and port',
      wire: {
        version: 1,
        policies: [{ name: 'a', destination: `${E}/a`, allow: [{ from: `${E}/**/b`, ports: [0] }] }],
      },
      message: /allow\.0\.from: .*last path segment\n.*allow\.0\.ports\.0: port 0 is out of range/,
    },
    {
      name: 'bad mode',
      wire: { version: 1, policies: [{ name: 'a', destination: `${E}/a`, mode: 'off', allow: [{ from: `${E}/b` }] }] },
      message: /mode "off"/,
    },
    {
      name: 'empty allow in enforce mode',
      wire: { version: 1, policies: [{ name: 'a', destination: `${E}/a`, mode: 'enforce' }] },
      message: /allow list is empty/,
    },
    {
      name: 'duplicate names',
      wire: {
        version: 1,
        policies: [0, 1].map(() => ({ name: 'a', destination: `${E}/a`, allow: [{ from: `${E}/b` }] })),
      },
      message: /policies\.1\.name: duplicate policy name "a"/,
    },
  ];
  for (const c of cases)
    t.throws(() => fromWirePolicySet(c.wire, TD), { code: ErrorCode.CONFIG_INVALID, message: c.message }, c.name);
});

t.test('diffDecisions lists only pairs whose outcome changes', async (t) => {
  const before = compilePolicySet({ version: 1, policies: POLICIES, defaultAction: 'deny' });
  const after = compilePolicySet({
    version: 2,
    policies: [POLICIES[1] as AllowPolicy, { ...(POLICIES[0] as AllowPolicy), allow: [{ from: `${E}/ns/batch/*` }] }],
    defaultAction: 'deny',
  });
  const pairs = [
    { from: `${E}/ns/prod/sa/web`, to: `${E}/ns/prod/sa/api` },
    { from: `${E}/ns/batch/job`, to: `${E}/ns/prod/sa/api`, port: 80 },
    { from: `${E}/ns/batch/job`, to: `${E}/ns/prod/sa/api`, port: 8443 },
    { from: `${E}/x`, to: `${E}/ns/legacy/a` },
  ];
  const changes = diffDecisions(before, after, pairs);
  t.same(
    changes.map((c) => [c.from, c.port, c.before.decision, c.after.decision]),
    [
      [`${E}/ns/prod/sa/web`, undefined, 'allow', 'deny'],
      [`${E}/ns/batch/job`, 80, 'deny', 'allow'],
    ],
  );
});
