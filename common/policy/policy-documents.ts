import { isNode, LineCounter, parseAllDocuments, type Document } from 'yaml';
import { z } from 'zod';
import { findingsError, zodFindings, type ParsedYaml } from '../config-findings.ts';
import { POLICY_API_VERSION, POLICY_KIND, type AllowPolicy, type PolicyFinding } from './allow-policy.ts';
import { checkDuplicateNames, checkPolicy, normalisePolicy, type Locate, type RawPolicy } from './policy-checks.ts';

export interface PolicyDocumentOptions {
  /** Where the text came from (a file name), used in error messages. */
  readonly source: string;
  /** The only trust domain destinations and callers may be in. */
  readonly trustDomain: string;
}

export interface ParsedPolicyDocuments {
  /** Only documents without errors; use them only when `findings` holds no error. */
  policies: AllowPolicy[];
  /** Every finding of every document, in stream order. */
  findings: PolicyFinding[];
}

// Structure only (types, required fields, unknown keys); value rules live in checkPolicy, shared with the wire path.
const ruleSchema = z.strictObject({ from: z.string(), ports: z.array(z.number()).optional() });
const documentSchema = z.strictObject({
  apiVersion: z.literal(POLICY_API_VERSION, { error: `apiVersion must be "${POLICY_API_VERSION}"` }),
  kind: z.literal(POLICY_KIND, { error: `kind must be "${POLICY_KIND}"` }),
  metadata: z.strictObject({ name: z.string() }),
  spec: z.strictObject({ destination: z.string(), mode: z.string().optional(), allow: z.array(ruleSchema) }),
});

const required = (issue: { code: string; input?: unknown }) =>
  issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : undefined;

/**
 * Parses a stream of AllowPolicy documents (`---` separated) and reports every finding with its line, never
 * stopping at the first. The caller refuses the whole set if any finding is an error.
 */
export function parsePolicyDocuments(yamlText: string, options: PolicyDocumentOptions): ParsedPolicyDocuments {
  const counter = new LineCounter();
  const docs = parseAllDocuments(yamlText, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  const findings: PolicyFinding[] = [];
  const policies: AllowPolicy[] = [];
  const names: { name: unknown; document: number; locate: Locate }[] = [];
  for (const [index, doc] of (Array.isArray(docs) ? docs : []).entries()) {
    const document = index + 1;
    const read = readDocument(doc, counter, document, findings);
    if (!read || read.value === null || read.value === undefined) continue;
    if (typeof read.value !== 'object' || Array.isArray(read.value)) {
      findings.push({
        severity: 'error',
        document,
        path: '',
        line: read.lineOf([]),
        message: `not an ${POLICY_KIND} document: expected a mapping with apiVersion, kind, metadata and spec`,
      });
      continue;
    }
    const locate = locator(read);
    const before = findings.length;
    const parsed = documentSchema.safeParse(read.value, { error: required });
    if (!parsed.success) {
      for (const f of zodFindings(parsed.error, read)) findings.push({ severity: 'error', document, ...f });
    }
    const raw = rawPolicy(read.value);
    findings.push(...checkPolicy(raw, { trustDomain: options.trustDomain, document, locate }));
    names.push({ name: raw.name, document, locate });
    const clean = !findings.slice(before).some((f) => f.severity === 'error');
    if (parsed.success && clean)
      policies.push(normalisePolicy({ name: parsed.data.metadata.name, ...parsed.data.spec }));
  }
  findings.push(...checkDuplicateNames(names));
  if (names.length === 0 && !findings.some((f) => f.severity === 'error')) {
    findings.push({
      severity: 'error',
      document: 0,
      path: '',
      line: null,
      message: `no ${POLICY_KIND} document found`,
    });
  }
  findings.sort((a, b) => a.document - b.document || (a.line ?? 0) - (b.line ?? 0));
  return { policies, findings };
}

/** Like parsePolicyDocuments, but throws CONFIG_INVALID listing every finding if any is an error. */
export function validatePolicySet(
  yamlText: string,
  options: PolicyDocumentOptions,
): { policies: AllowPolicy[]; warnings: PolicyFinding[] } {
  const { policies, findings } = parsePolicyDocuments(yamlText, options);
  throwOnErrors(options.source, findings);
  return { policies, warnings: findings };
}

/** Throws CONFIG_INVALID if any finding is an error; the message lists errors first, then warnings. */
export function throwOnErrors(source: string, findings: readonly PolicyFinding[]): void {
  const errors = findings.filter((f) => f.severity === 'error');
  if (errors.length === 0) return;
  const warnings = findings
    .filter((f) => f.severity === 'warning')
    .map((f) => ({ ...f, message: `warning: ${f.message}` }));
  throw findingsError(source, [...errors, ...warnings], 'policy set');
}

function readDocument(
  doc: Document,
  counter: LineCounter,
  document: number,
  findings: PolicyFinding[],
): ParsedYaml | undefined {
  const lineAt = (offset: number | undefined) => (offset === undefined ? null : counter.linePos(offset).line);
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      findings.push({
        severity: 'error',
        document,
        path: '',
        line: lineAt(e.pos[0]),
        message: `not valid YAML: ${e.message.split('\n')[0]}`,
      });
    }
    return undefined;
  }
  try {
    const value: unknown = doc.toJS();
    return {
      value,
      lineOf: (path) => {
        for (let n = path.length; n >= 0; n--) {
          const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as unknown[], true);
          if (isNode(node) && node.range) return lineAt(node.range[0]);
        }
        return null;
      },
    };
  } catch (err) {
    findings.push({
      severity: 'error',
      document,
      path: '',
      line: lineAt(doc.range?.[0]),
      message: `not usable YAML: ${(err as Error).message}`,
    });
    return undefined;
  }
}

function locator(read: ParsedYaml): Locate {
  return (field) => {
    const path = field[0] === 'name' ? ['metadata', 'name'] : ['spec', ...field];
    return { path: path.join('.'), line: read.lineOf(path) };
  };
}

function rawPolicy(value: unknown): RawPolicy {
  const obj = (v: unknown): Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  const root = obj(value);
  const spec = obj(root['spec']);
  return {
    name: obj(root['metadata'])['name'],
    destination: spec['destination'],
    mode: spec['mode'],
    allow: spec['allow'],
  };
}
