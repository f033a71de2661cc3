import type { Logger } from '../../common/logger.ts';
import type { ActiveCa } from '../ca/active-ca.ts';
import { loadCa } from '../ca/load-ca.ts';
import type { Store } from '../store/store.ts';
import type { TrustState } from '../trust-state.ts';

export interface CaReloadDeps {
  readonly active: ActiveCa;
  readonly dataDir: string;
  /** Never logged. */
  readonly passphrase: string;
  readonly trust: TrustState;
  readonly store: Store;
  readonly logger: Logger;
  /** Re-mints this replica's serving SVID (new signer or new bundle: clients must keep verifying it). */
  readonly renewServing: () => Promise<void>;
  readonly onCaChanged?: () => void;
  /** Re-reads the JWT-SVID keys; true when the published set changed. */
  readonly reloadJwtKeys?: () => Promise<boolean>;
}

const key = (der: Uint8Array) => Buffer.from(der).toString('base64');

/**
 * After the data dir was brought up to the store's CA state (another replica ran a rotation step or added trust
 * anchors), makes memory match it: the intermediate that signs, and exactly the roots of the bundle. The bundle
 * sequence is read, never allocated, here: the replica that changed the roots allocated it. Returns true when
 * anything changed.
 */
export async function reloadCaFromDisk(deps: CaReloadDeps): Promise<boolean> {
  const { active, logger } = deps;
  const loaded = await loadCa({ dataDir: deps.dataDir, passphrase: deps.passphrase });
  const wanted = new Map(loaded.ca.rootsDer().map((der) => [key(der), der]));
  const signerChanged = loaded.ca.intermediateSerial !== active.intermediateSerial;
  let rootsChanged = (await deps.reloadJwtKeys?.()) ?? false;
  if (signerChanged) {
    active.swap(loaded.ca);
    deps.onCaChanged?.();
    rootsChanged = true;
  } else {
    for (const root of loaded.ca.roots) if (await active.addRoot(root)) rootsChanged = true;
    for (const der of active.rootsDer()) {
      if (!wanted.has(key(der)) && active.removeRoot(der)) rootsChanged = true;
    }
  }
  if (!signerChanged && !rootsChanged) return false;
  await deps.trust.load(deps.store);
  await deps.renewServing();
  logger.info(
    { intermediate: active.intermediateSerial, roots: active.roots.length, signer_changed: signerChanged },
    'CA state changed by another replica applied',
  );
  return true;
}
