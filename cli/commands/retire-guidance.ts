/** What an operator needs to clear one blocker of `sigil ca rotate retire`. */
export interface RetireGuidance {
  readonly serial: string;
  readonly spiffeId: string;
  readonly kind: string;
  /** When this certificate was issued: the identity's last renewal (or attestation) that produced it. */
  readonly lastRenewal: string;
  /** When its holder should have renewed it (half life plus the 10 % jitter and a minute of grace). */
  readonly renewalDue: string;
  /** Silent past its renewal time: its instance is gone or re-attested; nothing will ever renew it. */
  readonly orphaned: boolean;
  /** The exact command that clears it. */
  readonly clearedBy: string;
}

const GRACE_MS = 60_000;

/**
 * Pure: how one blocker is cleared. A certificate still inside its renewal time will be replaced by its sidecar:
 * wait (or hurry it with a rotation order). One past it was orphaned (an instance that died, or re-attested and so
 * started a new lineage): nothing renews it, so revoking it is safe and is what clears it.
 */
export function retireGuidance(
  blocker: { serial: string; spiffeId: string; kind: string; notBefore: number; notAfter: number; issuedAt: number },
  now: number,
): RetireGuidance {
  const start = Math.max(blocker.notBefore, blocker.issuedAt);
  const due = start + (blocker.notAfter - start) * 0.6 + GRACE_MS;
  const orphaned = now > due;
  const clearedBy =
    blocker.kind === 'control-plane'
      ? 'restart the control plane replica that still serves it (it mints its serving certificate from the CA in force)'
      : orphaned
        ? `sigil revoke --serial ${blocker.serial} --reason superseded`
        : `wait until ${new Date(due).toISOString()} for its renewal, or sigil rotate --spiffe-id ${blocker.spiffeId} --within 5m`;
  return {
    serial: blocker.serial,
    spiffeId: blocker.spiffeId,
    kind: blocker.kind,
    lastRenewal: new Date(blocker.issuedAt).toISOString(),
    renewalDue: new Date(due).toISOString(),
    orphaned,
    clearedBy,
  };
}
