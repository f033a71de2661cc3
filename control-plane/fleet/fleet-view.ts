import type { Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { SidecarContactRecord, Store } from '../store/store.ts';

/** The versions of the trust state the control plane serves now: what a current sidecar holds. */
export interface CurrentVersions {
  readonly bundleSequence: number;
  readonly crlNumber: number;
  readonly policyVersion: number;
}

/** One sidecar instance as the fleet view shows it. */
export interface SidecarRecord {
  readonly spiffeId: string;
  /** Random per sidecar process (`svid:<serial>` for a sidecar too old to send one). */
  readonly instanceId: string;
  /** '' when the sidecar did not say. */
  readonly sidecarVersion: string;
  readonly svidSerial: string;
  readonly svidNotAfter: Date;
  readonly firstSeenAt: Date;
  readonly lastTrustFetchAt: Date | null;
  readonly lastRenewalAt: Date | null;
  /** The latest of first contact, trust fetch and renewal. */
  readonly lastSeenAt: Date;
  /** False for a sidecar that does not report versions: the held values are then null and nothing is current. */
  readonly versionsKnown: boolean;
  readonly bundleSequence: number | null;
  readonly bundleCurrent: boolean;
  readonly crlNumber: number | null;
  readonly crlCurrent: boolean;
  readonly policyVersion: number | null;
  readonly policyCurrent: boolean;
  /** Not heard from for longer than `staleAfterMs`. */
  readonly stale: boolean;
}

export interface FleetQuery {
  /** Default: the view's `defaultStaleAfterMs` (5 minutes). */
  readonly staleAfterMs?: number;
  /** Default: the clock's now. */
  readonly now?: Date;
}

export interface FleetViewDeps {
  readonly store: Pick<Store, 'listSidecarContacts'>;
  readonly clock: Clock;
  readonly current: () => CurrentVersions;
  readonly defaultStaleAfterMs?: number;
}

export const DEFAULT_STALE_AFTER_MS = 5 * 60_000;

/** Staleness and currency are pure functions of the record, `now` and the versions served now. */
export function sidecarRecordOf(
  c: SidecarContactRecord,
  current: CurrentVersions,
  now: number,
  staleAfterMs: number,
): SidecarRecord {
  const lastSeen = Math.max(c.firstSeen, c.lastTrustFetchAt ?? 0, c.lastRenewalAt ?? 0);
  const versionsKnown = c.bundleSequence !== null && c.crlNumber !== null && c.policyVersion !== null;
  return {
    spiffeId: c.spiffeId,
    instanceId: c.instanceId,
    sidecarVersion: c.sidecarVersion,
    svidSerial: c.svidSerial,
    svidNotAfter: new Date(c.svidNotAfter),
    firstSeenAt: new Date(c.firstSeen),
    lastTrustFetchAt: c.lastTrustFetchAt === null ? null : new Date(c.lastTrustFetchAt),
    lastRenewalAt: c.lastRenewalAt === null ? null : new Date(c.lastRenewalAt),
    lastSeenAt: new Date(lastSeen),
    versionsKnown,
    bundleSequence: c.bundleSequence,
    bundleCurrent: c.bundleSequence !== null && c.bundleSequence >= current.bundleSequence,
    crlNumber: c.crlNumber,
    crlCurrent: c.crlNumber !== null && c.crlNumber >= current.crlNumber,
    policyVersion: c.policyVersion,
    policyCurrent: c.policyVersion !== null && c.policyVersion >= current.policyVersion,
    stale: now - lastSeen > staleAfterMs,
  };
}

/** The fleet: every sidecar instance the control plane has heard from, with what it holds and whether it is stale. */
export class FleetView {
  readonly #deps: FleetViewDeps;

  constructor(deps: FleetViewDeps) {
    this.#deps = deps;
  }

  /** Ordered by SPIFFE ID, then instance id. */
  async list(query: FleetQuery = {}): Promise<SidecarRecord[]> {
    const staleAfterMs = query.staleAfterMs ?? this.#deps.defaultStaleAfterMs ?? DEFAULT_STALE_AFTER_MS;
    if (!Number.isFinite(staleAfterMs) || staleAfterMs <= 0) {
      throw new SigilError(
        ErrorCode.INVALID_ARGUMENT,
        `stale threshold ${staleAfterMs} ms is not positive: give a duration such as 5m`,
      );
    }
    const now = query.now?.getTime() ?? this.#deps.clock.now();
    const current = this.#deps.current();
    const contacts = await this.#deps.store.listSidecarContacts();
    return contacts.map((c) => sidecarRecordOf(c, current, now, staleAfterMs));
  }
}
