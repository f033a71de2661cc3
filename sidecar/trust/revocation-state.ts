import type { Clock } from '../../common/clock.ts';
import type { Logger } from '../../common/logger.ts';
import { RevocationSet, type RevocationDelta } from '../../common/revocation-set.ts';
import type { AuthorizationResult } from '../proxy/peer-info.ts';

export interface RevocationStateOptions {
  /** Past this age without a refresh (NATS or gRPC) the state is stale. */
  readonly maxStalenessMs: number;
  /** Stale state: refuse new connections (default) or let them through and say so. */
  readonly failOpen: boolean;
}

/**
 * What this sidecar knows of revocations, and how fresh it is. Full states (FetchTrust) replace it; deltas (NATS)
 * apply only in CRL-number order, and a gap asks for a full fetch. Listeners hear of every change so live
 * connections of newly revoked peers can be closed.
 */
export class RevocationState {
  readonly #options: RevocationStateOptions;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #listeners = new Set<(set: RevocationSet) => void>();
  #set = RevocationSet.empty();
  #refreshedAt: number | undefined;
  /** The control plane's store epoch the held CRL number belongs to; '' until one is known. */
  #storeEpoch = '';

  constructor(options: RevocationStateOptions, deps: { clock: Clock; logger: Logger }) {
    this.#options = options;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
  }

  get set(): RevocationSet {
    return this.#set;
  }

  /** Milliseconds since the last refresh; Infinity before the first. */
  ageMs(): number {
    return this.#refreshedAt === undefined ? Number.POSITIVE_INFINITY : this.#clock.now() - this.#refreshedAt;
  }

  isStale(): boolean {
    return this.ageMs() > this.#options.maxStalenessMs;
  }

  /**
   * A full state the control plane just answered (FetchTrust). An older CRL number than the one in force is ignored
   * and does not count as a refresh: a control plane whose store went back (restored from a backup) must not make a
   * sidecar forget revocations, nor look fresh while it cannot give newer state. Same number: only the freshness.
   * The one exception is a new store epoch: a store begun anew on purpose (`--init-store`) numbers from 1 again under
   * a new id, and this answer comes from the control plane over its authenticated channel, so its state is taken.
   */
  replace(full: {
    crlNumber: number;
    revokedSerials: readonly string[];
    revokedSpiffeIds: readonly string[];
    storeEpoch?: string;
  }): void {
    const epoch = full.storeEpoch ?? '';
    const reset = epoch !== '' && this.#storeEpoch !== '' && epoch !== this.#storeEpoch;
    if (reset) {
      this.#logger.warn(
        {
          crl_number: full.crlNumber,
          held_crl_number: this.#set.crlNumber,
          store_epoch: epoch,
          held_store_epoch: this.#storeEpoch,
        },
        "the control plane's store was begun anew (a new store epoch): taking its revocation state and CRL numbers",
      );
    } else if (full.crlNumber < this.#set.crlNumber) {
      this.#logger.warn(
        { crl_number: full.crlNumber, held_crl_number: this.#set.crlNumber },
        'the control plane answered an older CRL number than this sidecar holds (was its store restored or re-created?); keeping the newer state, not counted as a refresh',
      );
      return;
    }
    if (epoch !== '') this.#storeEpoch = epoch;
    this.#refreshedAt = this.#clock.now();
    if (!reset && full.crlNumber === this.#set.crlNumber && this.#set.crlNumber !== 0) return;
    this.#publish(
      new RevocationSet({ crlNumber: full.crlNumber, serials: full.revokedSerials, spiffeIds: full.revokedSpiffeIds }),
    );
  }

  /**
   * A delta from the event channel: 'gap' means something was missed and a full fetch is due. Only a delta newer than
   * the state held refreshes it, and only as of when the control plane signed it (`issuedAtMs`): a replayed old
   * event, however authentic, changes nothing and cannot turn a stale sidecar fresh.
   */
  applyDelta(delta: RevocationDelta, issuedAtMs: number): 'applied' | 'gap' | 'stale' {
    // A change from another store epoch: the full state (and its epoch) comes by fetch, as after a gap.
    if (delta.storeEpoch && this.#storeEpoch && delta.storeEpoch !== this.#storeEpoch) return 'gap';
    const next = this.#set.apply(delta);
    if (next === 'stale' || next === 'gap') return next;
    const signedAt = Math.min(issuedAtMs, this.#clock.now());
    this.#refreshedAt = Math.max(this.#refreshedAt ?? Number.NEGATIVE_INFINITY, signedAt);
    this.#publish(next);
    return 'applied';
  }

  /** The per-handshake check: O(1), both directions, resumed sessions included (it runs per connection). */
  authorize(serial: string, spiffeId: string): AuthorizationResult {
    if (this.isStale() && !this.#options.failOpen) {
      return {
        allowed: false,
        reason: `revocation state is stale (${Math.round(this.ageMs() / 1000)}s old); failing closed`,
      };
    }
    if (this.#set.isRevoked(serial, spiffeId)) return { allowed: false, reason: 'revoked' };
    return { allowed: true };
  }

  onChange(listener: (set: RevocationSet) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #publish(next: RevocationSet): void {
    this.#set = next;
    this.#logger.info(
      { crl_number: next.crlNumber, revoked_serials: next.size.serials, revoked_identities: next.size.spiffeIds },
      'revocation state updated',
    );
    for (const listener of this.#listeners) listener(next);
  }
}
