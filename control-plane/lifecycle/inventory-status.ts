import type { InventoryEntry, InventoryStatus } from './inventory-entry.ts';

/**
 * Settles each entry's effective status at `now`: revoked as recorded; superseded when a successor exists; expired
 * past notAfter; otherwise active.
 *
 * A successor is, for SVIDs, the renewal recorded in `supersededBy` only: several instances may share a SPIFFE ID,
 * and one instance renewing must not hide another whose renewal is stuck. For every other certificate it is also any
 * non-revoked certificate of the same name and role issued later (a renewed edge certificate, a rotated root, the
 * control plane's first serving certificate replacing the one `ca init` wrote), whatever its lifetime.
 */
export function settleStatuses(entries: readonly InventoryEntry[], now: number): InventoryEntry[] {
  const latest = new Map<string, InventoryEntry>();
  for (const e of entries) {
    if (e.kind === 'svid' || e.recordedStatus === 'revoked') continue;
    const key = successionKey(e);
    const best = latest.get(key);
    if (!best || e.notBefore > best.notBefore || (e.notBefore === best.notBefore && e.notAfter > best.notAfter))
      latest.set(key, e);
  }
  return entries.map((e) => {
    const status = statusOf(e, latest.get(successionKey(e)), now);
    return status === e.status ? e : { ...e, status };
  });
}

function successionKey(e: InventoryEntry): string {
  return `${e.isCa ? 'ca' : 'leaf'}\u0000${e.kind}\u0000${e.name}`;
}

function statusOf(e: InventoryEntry, latest: InventoryEntry | undefined, now: number): InventoryStatus {
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
  if (now >= e.notAfter) return 'expired';
  return 'active';
}
