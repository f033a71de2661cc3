import type { AllowPolicy, AllowRule, PolicyFinding } from './allow-policy.ts';
import { coversTrustDomain, parseIdPattern, type IdPattern } from './spiffe-pattern.ts';

/** A policy as read, before its fields are known to have the right types. */
export interface RawPolicy {
  readonly name: unknown;
  readonly destination: unknown;
  readonly mode: unknown;
  readonly allow: unknown;
}

/** Maps a logical field path (`['allow', 0, 'from']`) to where it sits in the source and its line there. */
export type Locate = (field: readonly (string | number)[]) => { path: string; line: number | null };

export interface CheckContext {
  readonly trustDomain: string;
  /** 1-based position in the stream or set. */
  readonly document: number;
  readonly locate: Locate;
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const MODES = new Set(['enforce', 'audit']);

/**
 * The rules every policy obeys, whether it comes from YAML or off the wire. Fields with the wrong type are skipped
 * here (the structural check reports them), so one pass reports every problem in the policy.
 */
export function checkPolicy(raw: RawPolicy, ctx: CheckContext): PolicyFinding[] {
  const findings: PolicyFinding[] = [];
  const add = (severity: PolicyFinding['severity'], field: (string | number)[], message: string) => {
    findings.push({ severity, document: ctx.document, ...ctx.locate(field), message });
  };
  if (typeof raw.name === 'string' && !NAME.test(raw.name)) {
    add(
      'error',
      ['name'],
      `name ${JSON.stringify(raw.name)} must be 1-63 lowercase letters, digits and "-", starting and ending with a letter or digit`,
    );
  }
  if (typeof raw.destination === 'string') checkId(raw.destination, ['destination'], ctx, add);
  if (typeof raw.mode === 'string' && !MODES.has(raw.mode)) {
    add('error', ['mode'], `mode ${JSON.stringify(raw.mode)} must be "enforce" or "audit"`);
  }
  if (Array.isArray(raw.allow)) {
    if (raw.allow.length === 0) {
      if (raw.mode === 'audit')
        add('warning', ['allow'], 'the allow list is empty: in audit mode every caller is logged as would-be-denied');
      else
        add(
          'error',
          ['allow'],
          'the allow list is empty: in enforce mode this denies every caller; list at least one rule, or use mode: audit',
        );
    }
    const seen = new Map<string, number>();
    for (const [i, rule] of (raw.allow as unknown[]).entries()) {
      if (typeof rule !== 'object' || rule === null) continue;
      const { from, ports } = rule as { from?: unknown; ports?: unknown };
      const pattern = typeof from === 'string' ? checkId(from, ['allow', i, 'from'], ctx, add) : undefined;
      if (pattern && coversTrustDomain(pattern)) {
        add('warning', ['allow', i, 'from'], `${from} allows every workload in the trust domain`);
      }
      if (Array.isArray(ports)) checkPorts(ports, ['allow', i, 'ports'], add);
      if (typeof from === 'string') {
        const key = ruleKey({ from, ports: Array.isArray(ports) ? (ports as number[]) : undefined });
        const first = seen.get(key);
        if (first !== undefined) add('warning', ['allow', i], `this rule repeats allow[${first}]; remove one`);
        else seen.set(key, i);
      }
    }
  }
  return findings;
}

type Add = (severity: PolicyFinding['severity'], field: (string | number)[], message: string) => void;

function checkId(text: string, field: (string | number)[], ctx: CheckContext, add: Add): IdPattern | undefined {
  const result = parseIdPattern(text, ctx.trustDomain);
  if (result.ok) return result.pattern;
  add('error', field, result.trustDomain ? result.message : `invalid SPIFFE ID or pattern ${result.message}`);
  return undefined;
}

function checkPorts(ports: unknown[], field: (string | number)[], add: Add): void {
  if (ports.length === 0) add('warning', field, 'an empty ports list means any port; remove the key to say so');
  const seen = new Set<unknown>();
  for (const [i, port] of ports.entries()) {
    if (typeof port !== 'number') continue;
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      add('error', [...field, i], `port ${port} is out of range 1..65535`);
    else if (seen.has(port)) add('error', [...field, i], `port ${port} is listed twice`);
    seen.add(port);
  }
}

function ruleKey(rule: AllowRule): string {
  return `${rule.from} ${rule.ports === undefined || rule.ports.length === 0 ? '*' : [...new Set(rule.ports)].sort((a, b) => a - b).join(',')}`;
}

/** Names are unique across a set: each later use is an error pointing back at the first. */
export function checkDuplicateNames(
  entries: readonly { name: unknown; document: number; locate: Locate }[],
): PolicyFinding[] {
  const first = new Map<string, { document: number; line: number | null }>();
  const findings: PolicyFinding[] = [];
  for (const e of entries) {
    if (typeof e.name !== 'string') continue;
    const where = e.locate(['name']);
    const prior = first.get(e.name);
    if (prior) {
      findings.push({
        severity: 'error',
        document: e.document,
        ...where,
        message: `duplicate policy name ${JSON.stringify(e.name)}: already used by document ${prior.document}${prior.line === null ? '' : ` (line ${prior.line})`}`,
      });
    } else first.set(e.name, { document: e.document, line: where.line });
  }
  return findings;
}

/** The canonical policy: mode defaulted, an empty ports list folded into "any port". */
export function normalisePolicy(raw: {
  name: string;
  destination: string;
  mode?: string | null;
  allow: { from: string; ports?: number[] | null }[];
}): AllowPolicy {
  return {
    name: raw.name,
    destination: raw.destination,
    mode: raw.mode === 'audit' ? 'audit' : 'enforce',
    allow: raw.allow.map((r) =>
      r.ports && r.ports.length > 0 ? { from: r.from, ports: [...r.ports] } : { from: r.from },
    ),
  };
}
