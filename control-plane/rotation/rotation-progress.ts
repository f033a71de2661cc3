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
 * Progress of one order, from the inventory alone: a target is any workload SVID identity with a certificate live
 * at the order's time; it counts as rotated once it holds a certificate issued after the order.
 */
export function rotationProgress(order: RotationOrderRecord, workloadCertificates: readonly CertificateRecord[], now: number, graceMs: number): RotationProgress {
  const target = targetOfRecord(order);
  const targets = new Set<string>();
  const rotated = new Set<string>();
  for (const c of workloadCertificates) {
    if (c.kind !== 'svid' || !rotationTargetMatches(target, c.spiffeId)) continue;
    if (c.issuedAt <= order.createdAt && c.notAfter > order.createdAt && c.status === 'active') targets.add(c.spiffeId);
    if (c.issuedAt > order.createdAt) rotated.add(c.spiffeId);
  }
  const sorted = [...targets].sort();
  const done = sorted.filter((id) => rotated.has(id));
  const waiting = sorted.filter((id) => !rotated.has(id));
  const over = now >= order.createdAt + order.windowMs + graceMs;
  return { targets: sorted, rotated: done, pending: over ? [] : waiting, failed: over ? waiting : [] };
}
