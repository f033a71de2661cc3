import type { SigningCa } from './ca/certificate-authority.ts';
import type { RevocationSnapshot } from './revocation/revocation-registry.ts';
import type { RotationOrderRecord, Store } from './store/store.ts';
import type { sigil } from '../proto/index.ts';
import type { JwtBundleKey } from '../common/jwt-svid.ts';
import { TrustBundle } from '../common/trust-bundle.ts';

function rotationOrderMessage(o: RotationOrderRecord): sigil.v1.IRotationOrder {
  return {
    orderId: o.orderId,
    spiffeId: o.targetKind === 'spiffe-id' ? o.target : '',
    prefix: o.targetKind === 'prefix' ? o.target : '',
    all: o.targetKind === 'all',
    windowMs: o.windowMs,
    reason: o.reason,
    createdAtUnixMs: o.createdAt,
  };
}

const BUNDLE_SEQUENCE = 'bundle';
const REFRESH_HINT_SECONDS = 300;

/** What the trust state carries besides the bundle; each absent source is simply not served. */
export interface TrustSources {
  /** The revocation state in force; without it sidecars see CRL number 0. */
  readonly revocation?: () => RevocationSnapshot;
  readonly policies?: () => sigil.v1.IPolicySet;
  /** Rotation orders still running. */
  readonly rotationOrders?: () => readonly RotationOrderRecord[];
  /** The published JWT-SVID keys: they join the bundle (SPIFFE bundle JWKS form) and its sequence. */
  readonly jwtKeys?: () => readonly JwtBundleKey[];
}

/**
 * The trust state served to sidecars. The bundle sequence is persisted and moves only when the set of roots
 * changes, so every replica and every restart reports the same number for the same bundle.
 */
export class TrustState {
  readonly #ca: SigningCa;
  readonly #sources: TrustSources;
  #sequence = 0;
  #bundleCache: { key: string; bytes: Uint8Array } | undefined;

  constructor(ca: SigningCa, sources: TrustSources = {}) {
    this.#ca = ca;
    this.#sources = sources;
  }

  /** Reads (and on first start, creates) the persisted sequence of the current bundle. */
  async load(store: Store): Promise<void> {
    // Sorted: replicas may hold the same roots in another order, and must agree on the sequence of one bundle.
    const roots = this.#ca
      .rootsDer()
      .map((der) => Buffer.from(der).toString('base64'))
      .sort()
      .join(',');
    // JWT keys join the fingerprint only when there are some, so a bundle without them keeps its sequence.
    const kids = (this.#sources.jwtKeys?.() ?? []).map((k) => k.kid).sort();
    const fingerprint = kids.length === 0 ? roots : `${roots}|jwt:${kids.join(',')}`;
    const known = await store.getMeta('bundle.roots');
    if (known === fingerprint) {
      this.#sequence = await store.currentSequence(BUNDLE_SEQUENCE);
      return;
    }
    this.#sequence = await store.nextSequence(BUNDLE_SEQUENCE);
    await store.setMeta('bundle.roots', fingerprint);
  }

  trustState(): sigil.v1.ITrustState {
    const state: sigil.v1.ITrustState = {
      trustDomain: this.#ca.trustDomain,
      roots: this.#ca.rootsDer(),
      bundleSequence: this.#sequence,
      refreshHintSeconds: REFRESH_HINT_SECONDS,
    };
    const { revocation, policies, rotationOrders, jwtKeys } = this.#sources;
    const r = revocation?.();
    return {
      ...state,
      ...(jwtKeys ? { spiffeBundle: this.#spiffeBundle(jwtKeys()) } : {}),
      ...(policies ? { policies: policies() } : {}),
      ...(r
        ? {
            revocation: {
              crlNumber: r.crlNumber,
              revokedSerials: [...r.revokedSerials],
              revokedSpiffeIds: [...r.revokedSpiffeIds],
              crl: r.crlDer,
              ...(r.storeEpoch ? { storeEpoch: r.storeEpoch } : {}),
            },
          }
        : {}),
      ...(rotationOrders ? { rotationOrders: rotationOrders().map(rotationOrderMessage) } : {}),
    };
  }

  /** The SPIFFE bundle document (JWKS JSON) served over HTTP at /bundle.json. */
  spiffeBundleDocument(): Uint8Array {
    return this.#spiffeBundle(this.#sources.jwtKeys?.() ?? []);
  }

  /** The SPIFFE bundle document: the roots as `x509-svid` keys and the JWT keys as `jwt-svid` keys. */
  #spiffeBundle(jwtKeys: readonly JwtBundleKey[]): Uint8Array {
    // Built once per bundle: every FetchTrust and issuance carries it.
    const key = `${this.#sequence}|${jwtKeys.map((k) => k.kid).join(',')}|${this.#ca.rootsDer().length}`;
    if (this.#bundleCache?.key === key) return this.#bundleCache.bytes;
    const x509 = new TrustBundle({
      trustDomain: this.#ca.trustDomain,
      roots: this.#ca.rootsDer(),
      sequence: this.#sequence,
      refreshHintSeconds: REFRESH_HINT_SECONDS,
    }).toJwks();
    const bytes = Buffer.from(JSON.stringify({ ...x509, keys: [...x509.keys, ...jwtKeys] }));
    this.#bundleCache = { key, bytes };
    return bytes;
  }
}
