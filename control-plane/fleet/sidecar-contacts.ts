import { LogField, type Logger } from '../../common/logger.ts';
import type { SigilError } from '../../common/errors.ts';
import type { Clock } from '../../common/clock.ts';
import type { Store } from '../store/store.ts';

/** What a sidecar says about itself on Attest, Renew and FetchTrust (SidecarReport in identity.proto). */
export interface SidecarReport {
  readonly instanceId: string;
  readonly sidecarVersion: string;
  /** Absent before the sidecar holds any trust state. */
  readonly versions?: { readonly bundleSequence: number; readonly crlNumber: number; readonly policyVersion: number };
}

export interface ContactFacts {
  readonly kind: 'trust-fetch' | 'renewal';
  readonly spiffeId: string;
  /** The SVID the sidecar holds after this call: the one it presented (fetch) or the one just issued. */
  readonly svidSerial: string;
  readonly svidNotAfter: number;
  /** Renewal: the serial it renewed with; ties an old sidecar (no instance id) to its row. */
  readonly previousSerial?: string;
  /** Absent: an older sidecar that sends none. */
  readonly report?: SidecarReport;
  /**
   * FetchTrust: the versions served in this answer, which the sidecar holds once it has applied them (it takes
   * any state newer than its own). They replace the report's, which tell what it held before this fetch.
   */
  readonly served?: SidecarReport['versions'];
}

export interface SidecarContactsDeps {
  readonly store: Pick<Store, 'recordSidecarContact' | 'findSidecarBySerial'>;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** An instance id is a label we show, never trust: printable, bounded. */
const INSTANCE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const VERSION = /^[A-Za-z0-9.+_-]{1,64}$/;

/**
 * Records sidecar contacts for the fleet view. Never fails the call it observes: a store error is logged and the
 * Attest, Renew or FetchTrust answers as it would have.
 */
export class SidecarContacts {
  readonly #deps: SidecarContactsDeps;

  constructor(deps: SidecarContactsDeps) {
    this.#deps = deps;
  }

  async record(facts: ContactFacts): Promise<void> {
    // Sigil's own identities (admins, the control plane) are no sidecars; '' is a leaf we could not read.
    if (facts.spiffeId === '' || /^spiffe:\/\/[^/]+\/sigil\//.test(facts.spiffeId)) return;
    try {
      const instanceId = await this.#instanceId(facts);
      const { report } = facts;
      await this.#deps.store.recordSidecarContact({
        instanceId,
        spiffeId: facts.spiffeId,
        at: this.#deps.clock.now(),
        kind: facts.kind,
        svidSerial: facts.svidSerial,
        svidNotAfter: facts.svidNotAfter,
        ...(report && VERSION.test(report.sidecarVersion) ? { sidecarVersion: report.sidecarVersion } : {}),
        ...(facts.served ?? report?.versions ?? {}),
      });
    } catch (err) {
      this.#deps.logger.warn(
        { err, [LogField.errCode]: (err as SigilError).code, spiffe_id: facts.spiffeId },
        'sidecar contact not recorded; the fleet view misses it until the next contact',
      );
    }
  }

  async #instanceId(facts: ContactFacts): Promise<string> {
    const sent = facts.report?.instanceId ?? '';
    if (INSTANCE_ID.test(sent)) return sent;
    // An older sidecar: its row follows its SVID lineage. An SVID issued by this very call (attestation: renewal
    // without a previous serial) cannot be on any row yet, so there is nothing to look up.
    const lineage = facts.previousSerial ?? (facts.kind === 'renewal' ? undefined : facts.svidSerial);
    const known = lineage === undefined ? undefined : await this.#deps.store.findSidecarBySerial(lineage);
    return known?.instanceId ?? `svid:${facts.svidSerial}`;
  }
}
