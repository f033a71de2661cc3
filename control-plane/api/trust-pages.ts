import { ErrorCode, SigilError } from '../../common/errors.ts';
import { sigil } from '../../proto/index.ts';

/** Page budget: far below gRPC's default 4 MB receive limit, and below NATS' 1 MB default for the same lists. */
export const TRUST_PAGE_BYTES = 768 * 1024;
/** A CRL larger than this is left out of the answer (sidecars use the lists; /crl serves the CRL itself). */
const MAX_INLINE_CRL_BYTES = 256 * 1024;

interface PageCursor {
  /** The state the pages belong to. */
  readonly crl: number;
  readonly policy: number;
  /** Offsets already sent: serials, identities, policies. */
  readonly s: number;
  readonly i: number;
  readonly p: number;
}

function encodeCursor(c: PageCursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeCursor(token: string): PageCursor {
  try {
    const c = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<
      Record<keyof PageCursor, unknown>
    >;
    const fields = [c.crl, c.policy, c.s, c.i, c.p];
    if (fields.every((v) => Number.isSafeInteger(v) && (v as number) >= 0)) return c as PageCursor;
  } catch {
    // fall through
  }
  throw new SigilError(ErrorCode.INVALID_ARGUMENT, 'FetchTrust page_token is not one this control plane handed out');
}

/**
 * Cuts a full trust state into pages of at most about TRUST_PAGE_BYTES: the first page carries everything small
 * (bundle, orders, policy header) and as much of the revocation lists and policies as fits; later pages carry only
 * the rest of those lists. Pure: the same state and token give the same page.
 */
export function trustPage(full: sigil.v1.ITrustState, pageToken: string): sigil.v1.ITrustState {
  const revocation = full.revocation ?? undefined;
  const policies = full.policies ?? undefined;
  const crlNumber = Number(revocation?.crlNumber ?? 0);
  const policyVersion = Number(policies?.version ?? 0);
  const start: PageCursor =
    pageToken === '' ? { crl: crlNumber, policy: policyVersion, s: 0, i: 0, p: 0 } : decodeCursor(pageToken);
  if (start.crl !== crlNumber || start.policy !== policyVersion) {
    throw new SigilError(
      ErrorCode.TRUST_STATE_CHANGED,
      `the trust state changed while it was fetched in pages (CRL ${start.crl} → ${crlNumber}, policies ${start.policy} → ${policyVersion}): fetch again from the first page`,
    );
  }
  const serials = revocation?.revokedSerials ?? [];
  const ids = revocation?.revokedSpiffeIds ?? [];
  const allPolicies = policies?.policies ?? [];
  let budget = TRUST_PAGE_BYTES - (pageToken === '' ? headerBytes(full) : 0);
  const take = <T>(items: readonly T[], from: number, size: (item: T) => number): number => {
    let end = from;
    while (end < items.length) {
      const cost = size(items[end]!);
      if (cost > budget && end > from) break;
      if (cost > budget && budget < TRUST_PAGE_BYTES / 2) break;
      budget -= cost;
      end++;
    }
    return end;
  };
  const sEnd = take(serials, start.s, (x) => x.length + 4);
  const iEnd = sEnd < serials.length ? start.i : take(ids, start.i, (x) => x.length + 4);
  const pEnd =
    sEnd < serials.length || iEnd < ids.length
      ? start.p
      : take(allPolicies, start.p, (x) => sigil.v1.Policy.encode(x).finish().length + 4);
  const done = sEnd === serials.length && iEnd === ids.length && pEnd === allPolicies.length;
  const crl = revocation?.crl;
  return {
    ...full,
    ...(revocation
      ? {
          revocation: {
            crlNumber,
            revokedSerials: serials.slice(start.s, sEnd),
            revokedSpiffeIds: ids.slice(start.i, iEnd),
            ...(revocation.storeEpoch ? { storeEpoch: revocation.storeEpoch } : {}),
            ...(pageToken === '' && crl && crl.length <= MAX_INLINE_CRL_BYTES ? { crl } : {}),
          },
        }
      : {}),
    ...(policies ? { policies: { ...policies, policies: allPolicies.slice(start.p, pEnd) } } : {}),
    nextPageToken: done ? '' : encodeCursor({ crl: crlNumber, policy: policyVersion, s: sEnd, i: iEnd, p: pEnd }),
  };
}

function headerBytes(full: sigil.v1.ITrustState): number {
  const roots = (full.roots ?? []).reduce((n, r) => n + r.length + 4, 0);
  return roots + (full.spiffeBundle?.length ?? 0) + (full.rotationOrders?.length ?? 0) * 256 + 1024;
}
