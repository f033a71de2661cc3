// Cost of one allow-policy decision with 10,000 policies (mixed exact and pattern destinations and callers), next to
// the same lookups in a 10-policy set in the same run: exact lookups should cost the same at both sizes.
// Run: `npx node bench/policy-decision.ts [--policies 10000] [--calls 200000]`. Writes bench/results/policy-decision.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { compilePolicySet, type CompiledPolicySet } from '../common/policy/index.ts';
import { buildPolicies } from './lib/policy-set.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const E = 'spiffe://bench.example';
const { values } = parseArgs({
  options: { policies: { type: 'string', default: '10000' }, calls: { type: 'string', default: '200000' } },
});
const POLICIES = Number(values.policies);
const CALLS = Number(values.calls);

interface Lookup {
  name: string;
  from: string;
  to: string;
  port: number;
  expect: string;
}

/** Lookups against policy `i` of a set built by buildPolicies (i must be an exact-destination policy, i % 10 < 7). */
function lookups(i: number, p: number): Lookup[] {
  const ns = `ns${i % 100}`;
  return [
    {
      name: 'exact destination, exact caller (allow)',
      from: `${E}/ns/${ns}/sa/client${i}`,
      to: `${E}/ns/${ns}/sa/svc${i}`,
      port: 443,
      expect: 'allow',
    },
    {
      name: 'exact destination, * caller (allow)',
      from: `${E}/ns/batch${i % 50}/job`,
      to: `${E}/ns/${ns}/sa/svc${i}`,
      port: 443,
      expect: 'allow',
    },
    {
      name: 'exact destination, ** caller (allow)',
      from: `${E}/ns/team${i % 30}/a/b`,
      to: `${E}/ns/${ns}/sa/svc${i}`,
      port: 8443,
      expect: 'allow',
    },
    {
      name: 'exact destination, no rule (deny)',
      from: `${E}/ns/nobody/sa/x`,
      to: `${E}/ns/${ns}/sa/svc${i}`,
      port: 443,
      expect: 'deny',
    },
    {
      name: '** destination, exact caller (allow)',
      from: `${E}/ns/ns${p % 100}/sa/client${p}`,
      to: `${E}/ns/pat${p}/a/b/c`,
      port: 443,
      expect: 'allow',
    },
    {
      name: 'no policy for destination (deny)',
      from: `${E}/ns/${ns}/sa/client${i}`,
      to: `${E}/ns/unknown/sa/x`,
      port: 443,
      expect: 'deny',
    },
  ];
}

function nsPerCall(set: CompiledPolicySet, l: Lookup): number {
  const got = set.decide(l.from, l.to, l.port).decision;
  if (got !== l.expect) throw new Error(`${l.name}: expected ${l.expect}, got ${got}`);
  let sink = 0;
  for (let i = 0; i < CALLS / 10; i++) sink += set.decide(l.from, l.to, l.port).decision.length;
  const start = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) sink += set.decide(l.from, l.to, l.port).decision.length;
  const ns = Number(process.hrtime.bigint() - start) / CALLS;
  if (sink === 0) throw new Error('unreachable');
  return ns;
}

function measure(n: number): { compileMs: number; rows: Map<string, number> } {
  const policies = buildPolicies(n);
  const start = process.hrtime.bigint();
  const set = compilePolicySet({ version: 1, policies, defaultAction: 'deny' });
  const compileMs = Number(process.hrtime.bigint() - start) / 1e6;
  const exactIndex = Math.floor((n - 1) / 10) * 10 + 3;
  const patternIndex = Math.floor((n - 1) / 10) * 10 + 8 >= n ? 8 : Math.floor((n - 1) / 10) * 10 + 8;
  const rows = new Map(lookups(exactIndex >= n ? 3 : exactIndex, patternIndex).map((l) => [l.name, nsPerCall(set, l)]));
  return { compileMs, rows };
}

const small = measure(10);
const large = measure(POLICIES);
console.log(`| lookup | ns/call, 10 policies | ns/call, ${POLICIES} policies |`);
console.log('|---|---:|---:|');
for (const [name, ns] of large.rows)
  console.log(`| ${name} | ${(small.rows.get(name) ?? NaN).toFixed(0)} | ${ns.toFixed(0)} |`);
console.log(`| compile (once per version) | ${small.compileMs.toFixed(2)} ms | ${large.compileMs.toFixed(1)} ms |`);
console.log(
  `\n${CALLS} calls per lookup, node ${process.version}; the sidecar also caches decisions per (peer, port) and version.`,
);

mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
writeFileSync(
  join(ROOT, 'bench', 'results', 'policy-decision.json'),
  `${JSON.stringify(
    {
      policies: POLICIES,
      calls: CALLS,
      node: process.version,
      compileMs: { small: small.compileMs, large: large.compileMs },
      nsPerCall: Object.fromEntries(
        [...large.rows].map(([name, ns]) => [name, { small: small.rows.get(name), large: ns }]),
      ),
    },
    null,
    2,
  )}\n`,
);
