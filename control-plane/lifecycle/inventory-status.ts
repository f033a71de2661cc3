import type { InventoryStatus } from './inventory-entry.ts';

/**
 * A certificate's status without the clock: 'revoked' as recorded, 'superseded' when a successor exists, else 'live'
 * (active before notAfter, expired from then: see `statusAt`). The inventory listing stores it per row (migration
 * 11), so status filters and counts run in SQL; the store settles a succession group again whenever a member is
 * added, revoked or removed.
 */
export type SettledStatus = 'revoked' | 'superseded' | 'live';

/** What settling needs of one member of a succession group. */
export interface SuccessionMember {
  /** The inventory id (SHA-256 of the DER): the same certificate recorded twice is not its own successor. */
  readonly id: string;
  readonly kind: string;
  readonly recordedStatus: 'active' | 'revoked';
  readonly supersededBy: string | null;
  readonly notBefore: number;
  readonly notAfter: number;
}

/**
 * Certificates that succeed one another share this key: same name, same kind, both CAs or both leaves. Newline
 * separated (names carry none, and PostgreSQL text cannot hold NUL).
 */
export function successionKey(isCa: boolean, kind: string, name: string): string {
  return `${isCa ? 'ca' : 'leaf'}\n${kind}\n${name}`;
}

/**
 * Settles each member of one succession group (members sharing a `successionKey`), in input order.
 *
 * A successor is, for SVIDs, the renewal recorded in `supersededBy` only: several instances may share a SPIFFE ID,
 * and one instance renewing must not hide another whose renewal is stuck. For every other certificate it is also the
 * latest non-revoked certificate of the group (a renewed edge certificate, a rotated root, the control plane's first
 * serving certificate replacing the one `ca init` wrote) when it both starts and ends later, whatever its lifetime.
 */
export function settleGroup(members: readonly SuccessionMember[]): SettledStatus[] {
  let latest: SuccessionMember | undefined;
  for (const e of members) {
    if (e.kind === 'svid' || e.recordedStatus === 'revoked') continue;
    if (!latest || e.notBefore > latest.notBefore || (e.notBefore === latest.notBefore && e.notAfter > latest.notAfter))
      latest = e;
  }
  return members.map((e) => {
    if (e.recordedStatus === 'revoked') return 'revoked';
    if (e.supersededBy) return 'superseded';
    if (
      e.kind !== 'svid' &&
      latest &&
      latest.id !== e.id &&
      latest.notAfter > e.notAfter &&
      latest.notBefore > e.notBefore
    )
      return 'superseded';
    return 'live';
  });
}

/** The status shown at `now`. */
export function statusAt(settled: SettledStatus, notAfter: number, now: number): InventoryStatus {
  if (settled !== 'live') return settled;
  return now >= notAfter ? 'expired' : 'active';
}
