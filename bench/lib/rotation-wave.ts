import type { ControlPlaneProcess } from './control-plane-process.ts';
import { round, summarize, type LatencySummary } from './stats.ts';
import type { SubscriberPool } from './subscriber-pool.ts';

export interface RotationWaveResult {
  readonly subscribers: number;
  readonly windowMs: number;
  /** Order issued → last renewal done (or the wait gave up: window + 60 s). */
  readonly wallMs: number;
  /** Renewals the subscribers completed (a renewal whose reply came after the client's 10 s deadline is not one). */
  readonly rotated: number;
  /** New SVIDs the control plane issued during the wave, from its inventory: its side of the issuance rate. */
  readonly issued: number;
  /** From the control plane's own bookkeeping (sigil rotate status) after the wave. */
  readonly status: {
    readonly targets: number;
    readonly rotated: number;
    readonly pending: number;
    readonly failed: number;
  };
  /** Renew call → new SVID in force, per subscriber (mTLS handshake, CSR, signing, store write, validation). */
  readonly renewMs: LatencySummary;
  /** Control-plane issuance per second over the wave (inventory issuedAt): mean, and the busiest second. */
  readonly issuancePerSecond: { readonly mean: number; readonly peak: number };
  /** Control-plane CPU over the wave, per SVID it issued, and as a share of one core. */
  readonly controlPlaneCpu: { readonly totalMs: number; readonly perIssuedMs: number; readonly utilisation: number };
  /** The subscriber processes' CPU per completed renewal (new key, CSR, mTLS client, validating the new SVID). */
  readonly subscriberCpuPerRenewalMs: number;
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
export async function measureRotationWave(
  cp: ControlPlaneProcess,
  pool: SubscriberPool,
  subscribers: number,
  windowMs: number,
): Promise<RotationWaveResult> {
  pool.reset();
  const cpu0 = cp.cpuMs();
  const subscriberCpu0 = pool.cpuMs();
  const start = performance.timeOrigin + performance.now();
  const orderId = await cp.rotateAll(windowMs);
  await pool.untilApplied('rotated', 1, windowMs + 60_000);
  const wallMs = performance.timeOrigin + performance.now() - start;
  const cpuMs = cp.cpuMs() - cpu0;
  const subscriberCpuMs = pool.cpuMs() - subscriberCpu0;
  const report = await pool.report();
  const doneAt = report.samples['rotation.doneAt'] ?? [];
  const issuedAt = await cp.svidsIssuedSince(Math.floor(start));
  return {
    subscribers,
    windowMs,
    wallMs: Math.round(wallMs),
    rotated: doneAt.length,
    issued: issuedAt.length,
    status: await cp.rotationStatus(orderId),
    renewMs: summarize(report.samples['rotation.renewMs'] ?? []),
    issuancePerSecond: {
      mean: round(issuedAt.length / (wallMs / 1000), 1),
      peak: Math.max(0, ...perSecond(issuedAt, start)),
    },
    controlPlaneCpu: {
      totalMs: Math.round(cpuMs),
      perIssuedMs: round(cpuMs / Math.max(1, issuedAt.length), 2),
      utilisation: round(cpuMs / wallMs, 3),
    },
    subscriberCpuPerRenewalMs: round(subscriberCpuMs / Math.max(1, doneAt.length), 2),
    dropped: report.dropped,
  };
}
