import { replaceFile } from './ca/replace-file.ts';
import type { SigningCa } from './ca/certificate-authority.ts';
import { parseCertificatesPem } from './ca/issued-certificate.ts';
import { ErrorCode, SigilError } from '../common/errors.ts';
import type { EventPublisher } from './events/event-publisher.ts';
import type { Store } from './store/store.ts';
import type { TrustState } from './trust-state.ts';

export interface TrustAnchorDeps {
  readonly ca: SigningCa;
  readonly store: Store;
  readonly trust: TrustState;
  readonly bundleFile: string;
  readonly publisher: EventPublisher | undefined;
}

/** Pushes the current bundle as a signed event (full state: re-sending it is harmless). */
export async function publishBundle(deps: Pick<TrustAnchorDeps, 'trust' | 'publisher'>): Promise<void> {
  const state = deps.trust.trustState();
  await deps.publisher?.publish({
    type: 'bundle.updated',
    roots: state.roots ?? [],
    bundleSequence: Number(state.bundleSequence ?? 0),
    refreshHintSeconds: state.refreshHintSeconds ?? 0,
    ...(state.spiffeBundle ? { spiffeBundle: state.spiffeBundle } : {}),
  });
}

/**
 * Adds root certificates to the trust bundle: profile-checked, persisted (bundle.pem and a higher bundle
 * sequence), then pushed to every sidecar. Returns the new bundle sequence.
 */
export async function addTrustAnchors(pem: string, deps: TrustAnchorDeps): Promise<number> {
  const roots = parseCertificatesPem(pem);
  if (roots.length === 0)
    throw new SigilError(
      ErrorCode.BUNDLE_INVALID,
      'no certificate found in the PEM given: pass one or more root CA certificates',
    );
  let added = 0;
  for (const root of roots) if (await deps.ca.addRoot(root)) added++;
  if (added > 0) {
    await replaceFile(deps.bundleFile, deps.ca.bundlePem(), 0o644);
    await deps.trust.load(deps.store);
  }
  await publishBundle(deps);
  return Number(deps.trust.trustState().bundleSequence ?? 0);
}
