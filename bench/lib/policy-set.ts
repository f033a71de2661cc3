import type { AllowPolicy } from '../../common/policy/index.ts';

const E = 'spiffe://bench.example';

/** Seven in ten policies name an exact destination, the rest a pattern; every policy mixes exact and pattern callers. */
export function buildPolicies(n: number): AllowPolicy[] {
  return Array.from({ length: n }, (_, i): AllowPolicy => {
    const ns = `ns${i % 100}`;
    const destination =
      i % 10 < 7 ? `${E}/ns/${ns}/sa/svc${i}` : i % 2 === 0 ? `${E}/ns/pat${i}/**` : `${E}/ns/pat${i}/*/api`;
    return {
      name: `p${i}`,
      destination,
      mode: i % 20 === 0 ? 'audit' : 'enforce',
      allow: [
        { from: `${E}/ns/${ns}/sa/client${i}` },
        { from: `${E}/ns/${ns}/sa/other${i}`, ports: [8443] },
        { from: `${E}/ns/batch${i % 50}/*` },
        { from: `${E}/ns/team${i % 30}/**`, ports: [443, 8443] },
      ],
    };
  });
}
