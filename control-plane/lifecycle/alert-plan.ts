import {
  type AlertSeverity,
  describeVerdict,
  type ExpiryPolicy,
  type ExpiryThreshold,
  expiryVerdict,
} from './expiry-rule.ts';
import type { InventoryStatus } from './inventory-entry.ts';

/** What the alert engine needs to know of one inventory certificate. */
export interface WatchedCertificate {
  /** The inventory id (SHA-256 fingerprint of the DER, hex). */
  readonly id: string;
  /** SPIFFE ID, DNS name or subject: names the certificate in messages. */
  readonly name: string;
  readonly source: string;
  readonly serial: string;
  readonly subject: string;
  readonly owner: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** Effective status at `now` (see inventory-status.ts): superseded and revoked certificates never alert. */
  readonly status: InventoryStatus;
}

/** One expiry alert, as stored: raised once per certificate and threshold, never deleted. */
export interface AlertRecord {
  /** `<certificate id>/<threshold>`: deterministic, so two leaders raising the same alert write one row. */
  readonly alertId: string;
  readonly certificateId: string;
  readonly threshold: ExpiryThreshold;
  readonly severity: AlertSeverity;
  readonly source: string;
  readonly serial: string;
  readonly subject: string;
  readonly owner: string;
  readonly notAfter: number;
  readonly message: string;
  readonly raisedAt: number;
  readonly resolvedAt: number | null;
  /** replaced, revoked, removed, escalated (a later threshold took over); null while open. */
  readonly resolution: AlertResolution | null;
}

export type AlertResolution = 'replaced' | 'revoked' | 'removed' | 'escalated';

export interface AlertPlan {
  readonly raise: readonly AlertRecord[];
  readonly resolve: readonly { readonly alertId: string; readonly resolution: AlertResolution }[];
}

export const alertIdOf = (certificateId: string, threshold: ExpiryThreshold): string => `${certificateId}/${threshold}`;

/**
 * Compares the inventory with the alerts already recorded and says what to raise and what to resolve. Pure and
 * idempotent: running it again on its own outcome plans nothing, which is what lets a new leader take over safely.
 * One alert stays open per certificate: raising a later threshold resolves the earlier one as `escalated`.
 */
export function planAlerts(input: {
  readonly certificates: readonly WatchedCertificate[];
  readonly alerts: readonly AlertRecord[];
  readonly now: number;
  readonly policy: ExpiryPolicy;
}): AlertPlan {
  const known = new Set(input.alerts.map((a) => a.alertId));
  const open = new Map<string, AlertRecord[]>();
  for (const a of input.alerts) {
    if (a.resolvedAt !== null) continue;
    open.set(a.certificateId, [...(open.get(a.certificateId) ?? []), a]);
  }
  const raise: AlertRecord[] = [];
  const resolve: { alertId: string; resolution: AlertResolution }[] = [];
  const present = new Set<string>();
  for (const cert of input.certificates) {
    present.add(cert.id);
    const mine = open.get(cert.id) ?? [];
    if (cert.status === 'superseded' || cert.status === 'revoked') {
      const resolution = cert.status === 'revoked' ? 'revoked' : 'replaced';
      for (const a of mine) resolve.push({ alertId: a.alertId, resolution });
      continue;
    }
    const verdict = expiryVerdict(cert, input.now, input.policy);
    if (!verdict) continue;
    const alertId = alertIdOf(cert.id, verdict.threshold);
    if (known.has(alertId)) continue;
    for (const a of mine) resolve.push({ alertId: a.alertId, resolution: 'escalated' });
    raise.push({
      alertId,
      certificateId: cert.id,
      threshold: verdict.threshold,
      severity: verdict.severity,
      source: cert.source,
      serial: cert.serial,
      subject: cert.subject,
      owner: cert.owner,
      notAfter: cert.notAfter,
      message: describeVerdict(verdict, cert.name, cert.notAfter),
      raisedAt: input.now,
      resolvedAt: null,
      resolution: null,
    });
  }
  for (const [certificateId, alerts] of open) {
    if (present.has(certificateId)) continue;
    for (const a of alerts) resolve.push({ alertId: a.alertId, resolution: 'removed' });
  }
  return { raise, resolve };
}
