import t from 'tap';
import { ErrorCode, isSigilError } from '../errors.ts';
import { parsePolicyDocuments, validatePolicySet } from './policy-documents.ts';

const OPTS = { source: 'p.yaml', trustDomain: 'example.org' };
const E = 'spiffe://example.org';
/** A valid document header; `spec` body lines start at line 5. */
const doc = (spec: string, name = 'p1') =>
  `apiVersion: sigil.dev/v1\nkind: AllowPolicy\nmetadata: { name: ${name} }\nspec:\n${spec}`;
const okSpec = `  destination: ${E}/ns/prod/sa/api\n  allow:\n    - from: ${E}/ns/prod/sa/web\n`;

interface Expected {
  severity: 'error' | 'warning';
  line: number | null;
  path?: string;
  message: RegExp;
  document?: number;
}

const cases: { name: string; text: string; findings: Expected[] }[] = [
  {
    name: 'not YAML',
    text: 'apiVersion: [sigil\nkind: x\n',
    findings: [{ severity: 'error', line: 2, message: /not valid YAML/ }],
  },
  {
    name: 'duplicate YAML key',
    text: doc(okSpec).replace('kind: AllowPolicy\n', 'kind: AllowPolicy\nkind: AllowPolicy\n'),
    findings: [{ severity: 'error', line: 3, message: /not valid YAML/ }],
  },
  {
    name: 'not a mapping',
    text: 'just some text\n',
    findings: [{ severity: 'error', line: 1, message: /not an AllowPolicy document/ }],
  },
  {
    name: 'empty stream',
    text: '# nothing\n',
    findings: [{ severity: 'error', line: null, document: 0, message: /no AllowPolicy document found/ }],
  },
  {
    name: 'wrong apiVersion',
    text: doc(okSpec).replace('sigil.dev/v1', 'sigil.dev/v2'),
    findings: [{ severity: 'error', line: 1, path: 'apiVersion', message: /apiVersion must be "sigil\.dev\/v1"/ }],
  },
  {
    name: 'wrong kind',
    text: doc(okSpec).replace('kind: AllowPolicy', 'kind: DenyPolicy'),
    findings: [{ severity: 'error', line: 2, path: 'kind', message: /kind must be "AllowPolicy"/ }],
  },
  {
    name: 'unknown key at the top',
    text: `${doc(okSpec)}status: {}\n`,
    findings: [{ severity: 'error', line: 8, path: '', message: /unknown key "status"/ }],
  },
  {
    name: 'unknown key in metadata',
    text: doc(okSpec).replace('{ name: p1 }', '{ name: p1, labels: {} }'),
    findings: [{ severity: 'error', line: 3, path: 'metadata', message: /unknown key "labels"/ }],
  },
  {
    name: 'unknown key in a rule',
    text: doc(`${okSpec}      port: 80\n`),
    findings: [{ severity: 'error', line: 8, path: 'spec.allow.0', message: /unknown key "port"/ }],
  },
  {
    name: 'missing fields',
    text: 'apiVersion: sigil.dev/v1\nkind: AllowPolicy\nmetadata: {}\nspec:\n  mode: audit\n',
    findings: [
      { severity: 'error', line: 3, path: 'metadata.name', message: /is required/ },
      { severity: 'error', line: 5, path: 'spec.destination', message: /is required/ },
      { severity: 'error', line: 5, path: 'spec.allow', message: /is required/ },
    ],
  },
  {
    name: 'bad name',
    text: doc(okSpec, 'Web_API'),
    findings: [{ severity: 'error', line: 3, path: 'metadata.name', message: /lowercase letters/ }],
  },
  {
    name: 'bad mode',
    text: doc(`  mode: strict\n${okSpec}`),
    findings: [{ severity: 'error', line: 5, path: 'spec.mode', message: /"enforce" or "audit"/ }],
  },
  {
    name: 'not a SPIFFE ID',
    text: doc(okSpec.replace(`${E}/ns/prod/sa/api`, 'https://example.org/api')),
    findings: [{ severity: 'error', line: 5, path: 'spec.destination', message: /must start with "spiffe:\/\/"/ }],
  },
  {
    name: '** mid-path',
    text: doc(okSpec.replace(`${E}/ns/prod/sa/web`, `${E}/ns/**/web`)),
    findings: [{ severity: 'error', line: 7, path: 'spec.allow.0.from', message: /"\*\*" may only be the last/ }],
  },
  {
    name: 'a*b segment',
    text: doc(okSpec.replace(`${E}/ns/prod/sa/web`, `${E}/ns/a*b`)),
    findings: [{ severity: 'error', line: 7, message: /must be whole path segments/ }],
  },
  {
    name: '**x segment',
    text: doc(okSpec.replace(`${E}/ns/prod/sa/web`, `${E}/ns/**x`)),
    findings: [{ severity: 'error', line: 7, message: /must be whole path segments/ }],
  },
  {
    name: '* in the trust domain',
    text: doc(okSpec.replace(`${E}/ns/prod/sa/web`, 'spiffe://*.example.org/a')),
    findings: [{ severity: 'error', line: 7, message: /not allowed in the trust domain/ }],
  },
  {
    name: '** as the trust domain',
    text: doc(okSpec.replace(`${E}/ns/prod/sa/api`, 'spiffe://**')),
    findings: [{ severity: 'error', line: 5, message: /not allowed in the trust domain/ }],
  },
  {
    name: 'trust-domain-only ID',
    text: doc(okSpec.replace(`${E}/ns/prod/sa/web`, E)),
    findings: [{ severity: 'error', line: 7, message: /needs a path/ }],
  },
  {
    name: 'trailing slash',
    text: doc(okSpec.replace(`${E}/ns/prod/sa/web`, `${E}/ns/`)),
    findings: [{ severity: 'error', line: 7, message: /trailing "\/"/ }],
  },
  {
    name: 'destination in another trust domain',
    text: doc(okSpec.replace(`${E}/ns/prod/sa/api`, 'spiffe://other.org/api')),
    findings: [
      { severity: 'error', line: 5, message: /trust domain "other\.org", but this policy set is for "example\.org"/ },
    ],
  },
  {
    name: 'caller in another trust domain',
    text: doc(okSpec.replace(`${E}/ns/prod/sa/web`, 'spiffe://other.org/web')),
    findings: [{ severity: 'error', line: 7, path: 'spec.allow.0.from', message: /trust domain "other\.org"/ }],
  },
  {
    name: 'empty allow, enforce',
    text: doc(`  destination: ${E}/a\n  allow: []\n`),
    findings: [{ severity: 'error', line: 6, path: 'spec.allow', message: /allow list is empty: in enforce mode/ }],
  },
  {
    name: 'empty allow, audit: warning',
    text: doc(`  destination: ${E}/a\n  mode: audit\n  allow: []\n`),
    findings: [{ severity: 'warning', line: 7, message: /in audit mode/ }],
  },
  {
    name: 'ports out of range, fractional, duplicated',
    text: doc(`${okSpec}      ports: [0, 65536, 1.5, 443, 443]\n`),
    findings: [0, 1, 2, 4].map((i) => ({
      severity: 'error' as const,
      line: 8,
      path: `spec.allow.0.ports.${i}`,
      message: i === 4 ? /port 443 is listed twice/ : /out of range 1\.\.65535/,
    })),
  },
  {
    name: 'ports of the wrong type',
    text: doc(`${okSpec}      ports: 443\n`),
    findings: [{ severity: 'error', line: 8, path: 'spec.allow.0.ports', message: /expected array/ }],
  },
  {
    name: 'identical rules: warning',
    text: doc(`${okSpec}    - from: ${E}/ns/prod/sa/web\n`),
    findings: [{ severity: 'warning', line: 8, path: 'spec.allow.1', message: /repeats allow\[0\]/ }],
  },
  {
    name: 'whole trust domain: warning',
    text: doc(`${okSpec}    - from: ${E}/**\n`),
    findings: [{ severity: 'warning', line: 8, message: /allows every workload in the trust domain/ }],
  },
  {
    name: 'duplicate names across documents',
    text: `${doc(okSpec)}---\n${doc(okSpec)}`,
    findings: [
      {
        severity: 'error',
        document: 2,
        line: 11,
        path: 'metadata.name',
        message: /duplicate policy name "p1": already used by document 1 \(line 3\)/,
      },
    ],
  },
];

t.test('each kind of finding, with its line', async (t) => {
  for (const c of cases) {
    const { findings, policies } = parsePolicyDocuments(c.text, OPTS);
    t.equal(findings.length, c.findings.length, `${c.name}: count (${findings.map((f) => f.message).join(' | ')})`);
    for (const [i, want] of c.findings.entries())
      t.match(findings[i], { document: 1, ...want }, `${c.name}: finding ${i}`);
    if (c.findings.some((f) => f.severity === 'error'))
      t.throws(() => validatePolicySet(c.text, OPTS), { code: ErrorCode.CONFIG_INVALID }, `${c.name}: refused`);
    else t.ok(policies.length > 0, `${c.name}: warnings do not block`);
  }
});

t.test('several errors in several documents are all reported, with source:line', async (t) => {
  const text = [
    doc(
      `  destination: ${E}/ns/**/api\n  allow:\n    - from: spiffe://*.org/a\n      ports: [70000]\n  extra: 1\n`,
      'a',
    ),
    doc(`  destination: spiffe://other.org/x\n  allow: []\n`, 'a'),
  ].join('---\n');
  const { findings } = parsePolicyDocuments(text, OPTS);
  t.same(
    findings.map((f) => [f.document, f.line]),
    [
      [1, 5],
      [1, 7],
      [1, 8],
      [1, 9],
      [2, 13],
      [2, 15],
      [2, 16],
    ],
  );
  try {
    validatePolicySet(text, OPTS);
    t.fail('accepted');
  } catch (err) {
    t.ok(isSigilError(err, ErrorCode.CONFIG_INVALID));
    const message = (err as Error).message;
    for (const line of [5, 7, 8, 9, 13, 15, 16]) t.match(message, new RegExp(`p\\.yaml:${line}: `));
    t.match(message, /7 findings/);
  }
});

t.test('valid documents: mode defaults to enforce, ports kept, warnings returned', async (t) => {
  const text = `${doc(`${okSpec}    - from: ${E}/ns/batch/*\n      ports: [8443]\n`)}---\n${doc(`  destination: ${E}/ns/legacy/**\n  mode: audit\n  allow:\n    - from: ${E}/**\n`, 'legacy')}`;
  const { policies, warnings } = validatePolicySet(text, OPTS);
  t.same(policies, [
    {
      name: 'p1',
      destination: `${E}/ns/prod/sa/api`,
      mode: 'enforce',
      allow: [{ from: `${E}/ns/prod/sa/web` }, { from: `${E}/ns/batch/*`, ports: [8443] }],
    },
    { name: 'legacy', destination: `${E}/ns/legacy/**`, mode: 'audit', allow: [{ from: `${E}/**` }] },
  ]);
  t.equal(warnings.length, 1);
  t.equal(warnings[0]?.severity, 'warning');
});
