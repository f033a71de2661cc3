import { rotationTargetMatches, type RotationTarget } from '../../common/rotation-target.ts';
import type { CertificateRecord, RotationOrderRecord } from '../store/store.ts';

export interface RotationProgress {
  /** Workloads that held a live certificate when the order was made. */
  readonly targets: readonly string[];
  /** Targets holding a certificate issued after the order. */
  readonly rotated: readonly string[];
  /** Not rotated yet, window (plus grace) still running. */
  readonly pending: readonly string[];
  /** Not rotated although the window and its grace are over. */
  readonly failed: readonly string[];
}

export function targetOfRecord(order: Pick<RotationOrderRecord, 'targetKind' | 'target'>): RotationTarget {
  switch (order.targetKind) {
    case 'all':
      return { kind: 'all' };
    case 'spiffe-id':
      return { kind: 'spiffe-id', spiffeId: order.target };
    case 'prefix':
      return { kind: 'prefix', prefix: order.target };
  }
}

/**
 * Progress of one order, from the inventory alone. Its targets are the workload identities with a certificate live
 * at the order's time; each such certificate is one instance (replicas share a SPIFFE ID). An instance is done
 * once a renewal after the order replaced its certificate (the lineage Renew records), or once that certificate
 * expired unrenewed or went silent past its renewal time (the instance is gone, or re-attested instead of renewing:
 * an orphan); an identity counts as rotated when all its instances are done and at least one of them renewed or the
 * identity re-attested after the order.
 */
export function rotationProgress(
  order: RotationOrderRecord,
  workloadCertificates: readonly CertificateRecord[],
  now: number,
  graceMs: number,
): RotationProgress {
  const target = targetOfRecord(order);
  const bySerial = new Map(workloadCertificates.map((c) => [c.serial, c]));
  const instances = new Map<string, { done: number; renewed: number; total: number }>();
  for (const c of workloadCertificates) {
    if (c.kind !== 'svid' || !rotationTargetMatches(target, c.spiffeId)) continue;
    if (!(c.issuedAt <= order.createdAt && c.notAfter > order.createdAt && c.status === 'active')) continue;
    const successor = c.supersededBy ? bySerial.get(c.supersededBy) : undefined;
    // Already replaced before the order: not an instance then, its successor is.
    if (successor !== undefined && successor.issuedAt <= order.createdAt) continue;
    const renewed = successor !== undefined;
    const entry = instances.get(c.spiffeId) ?? { done: 0, renewed: 0, total: 0 };
    entry.total++;
    if (renewed) entry.renewed++;
    if (renewed || c.notAfter <= now || orphaned(c, now)) entry.done++;
    instances.set(c.spiffeId, entry);
  }
  const sorted = [...instances.keys()].sort();
  // A certificate issued after the order that renews no instance: the identity re-attested (a lost state dir).
  const successors = new Set(workloadCertificates.map((c) => c.supersededBy).filter((s) => s !== null));
  const reattested = new Set(
    workloadCertificates
      .filter((c) => c.kind === 'svid' && c.issuedAt > order.createdAt && !successors.has(c.serial))
      .map((c) => c.spiffeId),
  );
  const isRotated = (id: string) => {
    const e = instances.get(id)!;
    return e.done === e.total && (e.renewed > 0 || reattested.has(id));
  };
  const done = sorted.filter(isRotated);
  const waiting = sorted.filter((id) => !isRotated(id));
  const over = now >= order.createdAt + order.windowMs + graceMs;
  return { targets: sorted, rotated: done, pending: over ? [] : waiting, failed: over ? waiting : [] };
}

/**
 * Silent past its renewal time: sidecars renew at half life (±10 % jitter), so a certificate neither replaced nor
 * expired at 60 % of its life plus a minute has no one renewing it any more (`sigil ca rotate retire` says the same).
 */
export function orphaned(
  c: Pick<CertificateRecord, 'issuedAt' | 'notBefore' | 'notAfter' | 'supersededBy'>,
  now: number,
): boolean {
  if (c.supersededBy) return false;
  const start = Math.max(c.notBefore, c.issuedAt);
  return now > start + (c.notAfter - start) * 0.6 + 60_000;
}
