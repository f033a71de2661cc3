import type { Clock } from '../../common/clock.ts';
import { type JwtBundleKey, validateJwtSvid } from '../../common/jwt-svid.ts';
import type { TlsMaterial } from '../identity/credential-source.ts';
import type { WorkloadIdentityApi } from '../identity/identity-api.ts';

export interface JwtSvidCacheDeps {
  readonly api: Pick<WorkloadIdentityApi, 'mintJwtSvid'>;
  readonly proxy: () => TlsMaterial | undefined;
  readonly keys: () => readonly JwtBundleKey[];
  readonly trustDomain: string;
  readonly clock: Clock;
  /** Distinct audience sets kept; the oldest goes first. */
  readonly maxEntries?: number;
}

interface Entry {
  readonly token: string;
  readonly refreshAt: number;
}

/**
 * JWT-SVIDs for the workload, one per audience set, minted by the control plane and kept until half their lifetime
 * (then minted again), like the X.509-SVID's renewal. A minted token is validated against the trust domain's JWT
 * bundle before it is handed out. Concurrent requests for one audience set share one mint.
 */
export class JwtSvidCache {
  readonly #deps: JwtSvidCacheDeps;
  readonly #entries = new Map<string, Entry>();
  readonly #pending = new Map<string, Promise<string>>();

  constructor(deps: JwtSvidCacheDeps) {
    this.#deps = deps;
  }

  /** Drops every cached token (the identity was revoked or its SVID withdrawn). */
  clear(): void {
    this.#entries.clear();
  }

  async fetch(audience: readonly string[]): Promise<string> {
    const key = [...new Set(audience)].sort().join('\n');
    const cached = this.#entries.get(key);
    if (cached !== undefined && cached.refreshAt > this.#deps.clock.now()) return cached.token;
    const pending = this.#pending.get(key);
    if (pending) return pending;
    const minting = this.#mint(key, audience).finally(() => this.#pending.delete(key));
    this.#pending.set(key, minting);
    return minting;
  }

  async #mint(key: string, audience: readonly string[]): Promise<string> {
    const proxy = this.#deps.proxy();
    if (proxy === undefined) throw new Error('the sidecar has no valid SVID yet, so it cannot obtain a JWT-SVID');
    const issuedAt = this.#deps.clock.now();
    const minted = await this.#deps.api.mintJwtSvid(proxy, audience);
    await validateJwtSvid(minted.token, {
      audience: audience[0] ?? '',
      trustDomain: this.#deps.trustDomain,
      keys: this.#deps.keys(),
      now: this.#deps.clock.now(),
    });
    const max = this.#deps.maxEntries ?? 1000;
    if (this.#entries.size >= max) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(key, { token: minted.token, refreshAt: issuedAt + (minted.expiresAt - issuedAt) / 2 });
    return minted.token;
  }
}
