import type { ControlPlaneProcess } from './control-plane-process.ts';
import { round, summarize, type LatencySummary } from './stats.ts';
import type { SubscriberPool } from './subscriber-pool.ts';

export interface RotationWaveResult {
  readonly subscribers: number;
  readonly windowMs: number;
  /** Order issued → last renewal done. */
  readonly wallMs: number;
  readonly rotated: number;
  /** From the control plane's own bookkeeping (sigil rotate status) after the wave. */
  readonly status: { readonly targets: number; readonly rotated: number; readonly pending: number; readonly failed: number };
  /** Renew call → new SVID in force, per subscriber (mTLS handshake, CSR, signing, store write, validation). */
  readonly renewMs: LatencySummary;
  readonly issuancePerSecond: { readonly mean: number; readonly peak: number; readonly busiestSecondShare: number };
  readonly controlPlaneCpu: { readonly totalMs: number; readonly perRenewalMs: number; readonly utilisation: number };
  readonly dropped: Readonly<Record<string, number>>;
}

/** Renewals finished in each whole second after `start` (absolute ms timestamps in, counts out). */
export function perSecond(doneAt: readonly number[], start: number): number[] {
  const counts: number[] = [];
  for (const at of doneAt) {
    const second = Math.max(0, Math.floor((at - start) / 1000));
    counts[second] = (counts[second] ?? 0) + 1;
  }
  return Array.from(counts, (n) => n ?? 0);
}

/**
 * `sigil rotate --all --within window` to a pool whose subscribers hold SVIDs: each renews with a new key at a random
 * moment in the window. Measures the wave from the control plane's side: its CPU during the wave, the issuance rate
 * (mean over the wave and the busiest second), and each renewal's duration as the subscriber saw it.
 */
export async function measureRotationWave(cp: ControlPlaneProcess, pool: SubscriberPool, subscribers: number, windowMs: number): Promise<RotationWaveResult> {
  pool.reset();
  const cpu0 = cp.cpuMs();
  const start = performance.timeOrigin + performance.now();
  const orderId = await cp.rotateAll(windowMs);
  await pool.untilApplied('rotated', 1, windowMs + 60_000);
  const wallMs = performance.timeOrigin + performance.now() - start;
  const cpuMs = cp.cpuMs() - cpu0;
  const report = await pool.report();
  const doneAt = report.samples['rotation.doneAt'] ?? [];
  const seconds = perSecond(doneAt, start);
  const peak = Math.max(0, ...seconds);
  return {
    subscribers,
    windowMs,
    wallMs: Math.round(wallMs),
    rotated: doneAt.length,
    status: await cp.rotationStatus(orderId),
    renewMs: summarize(report.samples['rotation.renewMs'] ?? []),
    issuancePerSecond: { mean: round(doneAt.length / (wallMs / 1000), 1), peak, busiestSecondShare: round(doneAt.length === 0 ? 0 : peak / doneAt.length, 3) },
    controlPlaneCpu: { totalMs: Math.round(cpuMs), perRenewalMs: round(cpuMs / Math.max(1, doneAt.length), 2), utilisation: round(cpuMs / wallMs, 3) },
    dropped: report.dropped,
  };
}
