import type { sigil } from '../../proto/index.ts';
import type { AllowPolicy, DefaultAction, PolicyFinding, PolicySetInput } from './allow-policy.ts';
import { checkDuplicateNames, checkPolicy, normalisePolicy, type Locate } from './policy-checks.ts';
import { throwOnErrors } from './policy-documents.ts';

/** The wire form published in events and returned by FetchTrust. Absent ports go out as an empty list (any port). */
export function toWirePolicySet(
  set: Pick<PolicySetInput, 'version' | 'defaultAction'> & { policies: readonly AllowPolicy[] },
): sigil.v1.IPolicySet {
  return {
    version: set.version,
    defaultAction: set.defaultAction,
    policies: set.policies.map((p) => ({
      name: p.name,
      destination: p.destination,
      mode: p.mode,
      allow: p.allow.map((r) => ({ from: r.from, ports: r.ports ? [...r.ports] : [] })),
    })),
  };
}

/**
 * Reads a policy set off the wire, validating it exactly as documents are validated (without lines). A set with
 * any error is refused with CONFIG_INVALID; warnings are dropped, the control plane already reported them.
 */
export function fromWirePolicySet(wire: sigil.v1.IPolicySet, trustDomain: string): PolicySetInput {
  const version = Number(wire.version ?? 0);
  const source = `policy set version ${String(version)}`;
  const findings: PolicyFinding[] = [];
  const setError = (path: string, message: string) =>
    findings.push({ severity: 'error', document: 0, path, line: null, message });
  if (!Number.isSafeInteger(version) || version < 0)
    setError('version', `version ${String(wire.version)} must be a non-negative integer`);
  const action = wire.defaultAction || 'deny';
  if (action !== 'deny' && action !== 'allow')
    setError('defaultAction', `defaultAction ${JSON.stringify(action)} must be "deny" or "allow"`);
  const policies: AllowPolicy[] = [];
  const names: { name: unknown; document: number; locate: Locate }[] = [];
  for (const [i, p] of (wire.policies ?? []).entries()) {
    const locate: Locate = (field) => ({ path: ['policies', i, ...field].join('.'), line: null });
    const before = findings.length;
    const name = p.name ?? '';
    const destination = p.destination ?? '';
    const allow = (p.allow ?? []).map((r) => ({ from: r.from ?? '', ports: r.ports ?? [] }));
    if (name === '')
      findings.push({ severity: 'error', document: i + 1, ...locate(['name']), message: 'name is required' });
    if (destination === '')
      findings.push({
        severity: 'error',
        document: i + 1,
        ...locate(['destination']),
        message: 'destination is required',
      });
    findings.push(
      ...checkPolicy(
        {
          name: name || undefined,
          destination: destination || undefined,
          mode: p.mode || 'enforce',
          allow: allow.map((r) => (r.ports.length > 0 ? r : { from: r.from })),
        },
        { trustDomain, document: i + 1, locate },
      ),
    );
    names.push({ name, document: i + 1, locate });
    if (!findings.slice(before).some((f) => f.severity === 'error'))
      policies.push(normalisePolicy({ name, destination, mode: p.mode, allow }));
  }
  findings.push(...checkDuplicateNames(names));
  throwOnErrors(source, findings);
  return { version, policies, defaultAction: action as DefaultAction };
}
