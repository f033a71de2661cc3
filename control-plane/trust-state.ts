import type { SigningCa } from './ca/certificate-authority.ts';
import type { RevocationSnapshot } from './revocation/revocation-registry.ts';
import type { Store } from './store/store.ts';
import type { sigil } from '../proto/index.ts';

const BUNDLE_SEQUENCE = 'bundle';
const REFRESH_HINT_SECONDS = 300;

/**
 * The trust state served to sidecars. The bundle sequence is persisted and moves only when the set of roots
 * changes, so every replica and every restart reports the same number for the same bundle.
 */
export class TrustState {
  readonly #ca: SigningCa;
  readonly #revocation: (() => RevocationSnapshot) | undefined;
  #sequence = 0;

  /** `revocation` gives the revocation state in force; without it none is served (sidecars then see CRL number 0). */
  readonly #policies: (() => sigil.v1.IPolicySet) | undefined;

  constructor(ca: SigningCa, revocation?: () => RevocationSnapshot, policies?: () => sigil.v1.IPolicySet) {
    this.#policies = policies;
    this.#ca = ca;
    this.#revocation = revocation;
  }

  /** Reads (and on first start, creates) the persisted sequence of the current bundle. */
  async load(store: Store): Promise<void> {
    const fingerprint = this.#ca.rootsDer().map((der) => Buffer.from(der).toString('base64')).join(',');
    const known = await store.getMeta('bundle.roots');
    if (known === fingerprint) {
      this.#sequence = await store.currentSequence(BUNDLE_SEQUENCE);
      return;
    }
    this.#sequence = await store.nextSequence(BUNDLE_SEQUENCE);
    await store.setMeta('bundle.roots', fingerprint);
  }

  trustState(): sigil.v1.ITrustState {
    const state: sigil.v1.ITrustState = { trustDomain: this.#ca.trustDomain, roots: this.#ca.rootsDer(), bundleSequence: this.#sequence, refreshHintSeconds: REFRESH_HINT_SECONDS };
    const withPolicies = this.#policies ? { ...state, policies: this.#policies() } : state;
    if (!this.#revocation) return withPolicies;
    const r = this.#revocation();
    return { ...withPolicies, revocation: { crlNumber: r.crlNumber, revokedSerials: [...r.revokedSerials], revokedSpiffeIds: [...r.revokedSpiffeIds], crl: r.crlDer } };
  }
}
