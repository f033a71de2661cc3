import type { Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import {
  compilePolicySet,
  diffDecisions,
  parsePolicyDocuments,
  toWirePolicySet,
  type AllowPolicy,
  type CompiledPolicySet,
  type Decision,
  type PolicyFinding,
} from '../../common/policy/index.ts';
import type { sigil } from '../../proto/index.ts';
import type { Store } from '../store/store.ts';

export type DefaultAction = 'deny' | 'allow';

/** What `apply` reports: per-name changes, every finding, and with a dry run the decisions that would change. */
export interface ApplyResult {
  readonly version: number;
  readonly applied: boolean;
  readonly created: string[];
  readonly updated: string[];
  readonly deleted: string[];
  readonly unchanged: string[];
  readonly findings: PolicyFinding[];
  readonly changes: { from: string; to: string; before: string; after: string }[];
}

export interface StoredVersion {
  readonly version: number;
  readonly policies: AllowPolicy[];
  readonly appliedAt: number;
}

const CURRENT = 'policy.current';
const versionKey = (v: number) => `policy.version.${v}`;
/** Pairs examined by --dry-run are bounded: every pair of up to this many identities. */
const MAX_DRY_RUN_IDENTITIES = 200;

/**
 * Allow-policies in the control plane: validated as a whole, stored as numbered versions (every version kept),
 * and handed to `onChange` for publishing. Apply merges by name (like `kubectl apply`); delete removes one name.
 * A refused document set changes nothing.
 */
export class PolicyService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #trustDomain: string;
  readonly #defaultAction: DefaultAction;
  readonly #onChange: (wire: sigil.v1.IPolicySet) => Promise<void>;
  readonly #exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
  readonly #announce: (() => Promise<void>) | undefined;
  #current: { version: number; policies: AllowPolicy[]; compiled: CompiledPolicySet } | undefined;

  constructor(
    options: { trustDomain: string; defaultAction: DefaultAction },
    deps: {
      store: Store;
      clock: Clock;
      onChange: (wire: sigil.v1.IPolicySet) => Promise<void>;
      /** With several replicas: the cluster lock versions are allocated under, and telling the others. */
      exclusive?: <T>(fn: () => Promise<T>) => Promise<T>;
      announce?: () => Promise<void>;
    },
  ) {
    this.#trustDomain = options.trustDomain;
    this.#defaultAction = options.defaultAction;
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#onChange = deps.onChange;
    this.#exclusive = deps.exclusive ?? ((fn) => fn());
    this.#announce = deps.announce;
  }

  /** Reads the version in force (another replica may have applied a newer one). */
  async load(): Promise<void> {
    const version = Number((await this.#store.getMeta(CURRENT)) ?? 0);
    if (this.#current && this.#current.version === version) return;
    const stored = version > 0 ? await this.#stored(version) : undefined;
    this.#current = this.#compile(version, stored?.policies ?? []);
  }

  get wire(): sigil.v1.IPolicySet {
    const c = this.#require();
    return toWirePolicySet({ version: c.version, policies: c.policies, defaultAction: this.#defaultAction });
  }

  list(): AllowPolicy[] {
    return [...this.#require().policies];
  }

  /** One stored version (every version is kept); undefined when there is no such version. */
  async storedVersion(version: number): Promise<StoredVersion | undefined> {
    if (!Number.isSafeInteger(version) || version < 1 || version > this.#require().version) return undefined;
    return this.#stored(version);
  }

  explain(from: string, to: string, port: number | undefined): Decision & { version: number } {
    const c = this.#require();
    return { ...c.compiled.explain(from, to, port), version: c.version };
  }

  /** Under the cluster lock, from the version in force in the store: replicas never hand out one version twice. */
  apply(
    yaml: string,
    options: { source: string; dryRun: boolean; knownIdentities: () => Promise<string[]> },
  ): Promise<ApplyResult> {
    return this.#exclusive(async () => {
      await this.load();
      return this.#apply(yaml, options);
    });
  }

  async #apply(
    yaml: string,
    options: { source: string; dryRun: boolean; knownIdentities: () => Promise<string[]> },
  ): Promise<ApplyResult> {
    const current = this.#require();
    const parsed = parsePolicyDocuments(yaml, { source: options.source, trustDomain: this.#trustDomain });
    const byName = new Map(current.policies.map((p) => [p.name, p]));
    const created: string[] = [];
    const updated: string[] = [];
    const unchanged: string[] = [];
    for (const p of parsed.policies) {
      const old = byName.get(p.name);
      if (!old) created.push(p.name);
      else if (JSON.stringify(old) === JSON.stringify(p)) unchanged.push(p.name);
      else updated.push(p.name);
      byName.set(p.name, p);
    }
    parsed.findings.push(...oversizedPolicies(parsed.policies));
    const refused = parsed.findings.some((f) => f.severity === 'error') || parsed.policies.length === 0;
    const base = { created, updated, deleted: [] as string[], unchanged, findings: parsed.findings };
    if (parsed.policies.length === 0 && !parsed.findings.some((f) => f.severity === 'error')) {
      parsed.findings.push({
        severity: 'error',
        document: 0,
        path: '',
        line: null,
        message: 'no AllowPolicy document found',
      });
    }
    if (refused) return { ...base, version: current.version, applied: false, changes: [] };
    return this.#commit([...byName.values()], base, options);
  }

  delete(name: string, options: { dryRun: boolean; knownIdentities: () => Promise<string[]> }): Promise<ApplyResult> {
    return this.#exclusive(async () => {
      await this.load();
      return this.#delete(name, options);
    });
  }

  async #delete(
    name: string,
    options: { dryRun: boolean; knownIdentities: () => Promise<string[]> },
  ): Promise<ApplyResult> {
    const current = this.#require();
    if (!current.policies.some((p) => p.name === name)) {
      throw new SigilError(ErrorCode.NOT_FOUND, `no policy named ${JSON.stringify(name)}: see sigil policy list`);
    }
    return this.#commit(
      current.policies.filter((p) => p.name !== name),
      { created: [], updated: [], deleted: [name], unchanged: [], findings: [] },
      options,
    );
  }

  async #commit(
    policies: AllowPolicy[],
    base: Omit<ApplyResult, 'version' | 'applied' | 'changes'>,
    options: { dryRun: boolean; knownIdentities: () => Promise<string[]> },
  ): Promise<ApplyResult> {
    const current = this.#require();
    const next = this.#compile(current.version + 1, policies);
    const ids = (await options.knownIdentities()).slice(0, MAX_DRY_RUN_IDENTITIES);
    const pairs = ids.flatMap((from) => ids.filter((to) => to !== from).map((to) => ({ from, to })));
    const changes = diffDecisions(current.compiled, next.compiled, pairs).map((c) => ({
      from: c.from,
      to: c.to,
      before: c.before.decision,
      after: c.after.decision,
    }));
    if (options.dryRun) return { ...base, version: current.version, applied: false, changes };
    if (base.created.length + base.updated.length + base.deleted.length === 0)
      return { ...base, version: current.version, applied: false, changes };
    const stored: StoredVersion = { version: next.version, policies, appliedAt: this.#clock.now() };
    await this.#store.setMeta(versionKey(next.version), JSON.stringify(stored));
    await this.#store.setMeta(CURRENT, String(next.version));
    this.#current = next;
    await this.#onChange(this.wire);
    await this.#announce?.();
    return { ...base, version: next.version, applied: true, changes };
  }

  #compile(version: number, policies: AllowPolicy[]) {
    return { version, policies, compiled: compilePolicySet({ version, policies, defaultAction: this.#defaultAction }) };
  }

  async #stored(version: number): Promise<StoredVersion> {
    const text = await this.#store.getMeta(versionKey(version));
    if (!text)
      throw new SigilError(
        ErrorCode.STORE_CORRUPT,
        `policy version ${version} is missing from the store: restore it from a backup`,
      );
    return JSON.parse(text) as StoredVersion;
  }

  #require() {
    if (!this.#current) throw new SigilError(ErrorCode.UNAVAILABLE, 'policies are not loaded yet');
    return this.#current;
  }
}

/**
 * The most one policy may take, measured as JSON (larger than its protobuf form). Sidecars fetch policies in pages of
 * about 768 KB (control-plane/api/trust-pages.ts) and one policy cannot be split across pages, so a larger one would
 * make a page that gRPC refuses and stall every sidecar's refresh: refuse it before it is stored (issue 21).
 */
export const MAX_POLICY_BYTES = 256 * 1024;

function oversizedPolicies(policies: readonly { readonly name: string }[]): PolicyFinding[] {
  return policies.flatMap((policy) => {
    const bytes = Buffer.byteLength(JSON.stringify(policy));
    if (bytes <= MAX_POLICY_BYTES) return [];
    return [
      {
        severity: 'error' as const,
        document: 0,
        path: 'spec.allow',
        line: null,
        message: `policy ${JSON.stringify(policy.name)} is ${Math.ceil(bytes / 1024)} KB, over the ${MAX_POLICY_BYTES / 1024} KB one policy may take (it must reach every sidecar in one piece): split its rules over several policies for the same destination, or use patterns (* and **) instead of long lists`,
      },
    ];
  });
}
