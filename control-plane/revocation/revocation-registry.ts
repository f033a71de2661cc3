import type { Clock, Timer } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { SigilEvent } from '../../common/events/sigil-event.ts';
import { LogField, type Logger } from '../../common/logger.ts';
import { parseWorkloadId } from '../../common/spiffe-id.ts';
import type { CrlRequest } from '../ca/certificate-authority.ts';
import type { EventPublisher } from '../events/event-publisher.ts';
import type { CertificateRecord, MetaEntry, RevocationRecord, Store } from '../store/store.ts';
import { STORE_ID_META } from '../store/store-binding.ts';
import { parseRevocationReason, reasonCode, type RevocationReason } from './reason-codes.ts';
import {
  assertRevocable,
  CRL_VALIDITY_MS,
  crlRefreshAt,
  effectiveTime,
  EXPIRED_ENTRY_MARGIN_MS,
  parseSerial,
  protectionOfCertificate,
  protectionOfIdentity,
  serialCandidates,
} from './revocation-rules.ts';

const CRL_SEQUENCE = 'crl';
const CRL_META = 'crl.current';
/** After a failed periodic re-signing, the next attempt. */
const RETRY_MS = 60_000;

/** The CA as the registry sees it: signs CRLs with the intermediate. */
export interface CrlSigner {
  signCrl(request: CrlRequest): Promise<Uint8Array>;
}

export interface RevocationRegistryOptions {
  readonly trustDomain: string;
  /** thisUpdate to nextUpdate. Default 24 h. */
  readonly crlValidityMs?: number;
  /** How long an expired certificate stays listed past its notAfter. Default 1 h. */
  readonly expiredEntryMarginMs?: number;
}

export interface RevocationRegistryDeps {
  readonly store: Store;
  readonly signer: CrlSigner;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Absent when no event channel is configured: sidecars then converge through FetchTrust alone. */
  readonly publisher?: EventPublisher;
  /**
   * With several replicas: the cluster lock every change runs under (CRL numbers, CRLs and events in one order
   * across replicas), whether this replica runs the periodic re-signing (the leader), and how the others hear of a
   * change. Defaults: a single control plane.
   */
  readonly exclusive?: <T>(fn: () => Promise<T>) => Promise<T>;
  readonly isLeader?: () => boolean;
  readonly announce?: () => Promise<void>;
}

/** The revocation state in force, as served by FetchTrust and /crl. */
export interface RevocationSnapshot {
  readonly crlNumber: number;
  readonly crlDer: Uint8Array;
  readonly thisUpdate: number;
  readonly nextUpdate: number;
  /** Serials the CRL lists. */
  readonly revokedSerials: readonly string[];
  readonly revokedSpiffeIds: readonly string[];
  /** The store's id: CRL numbers restart only with a new one (`--init-store`), which sidecars take as a reset. */
  readonly storeEpoch: string;
}

export interface RevokeResult {
  /** Every certificate the request covers that is now revoked (already revoked ones included). */
  readonly revokedSerials: readonly string[];
  /** The CRL number in force after the request: unchanged when the request changed nothing. */
  readonly crlNumber: number;
}

export interface RevokeSerialRequest {
  readonly serial: string;
  /** RFC 5280 reason name; empty or absent: unspecified. */
  readonly reason?: string;
  /** Unix ms from which the certificate is untrusted; absent or 0: now. */
  readonly effectiveAt?: number;
  readonly force?: boolean;
}

export interface RevokeIdentityRequest {
  readonly spiffeId: string;
  readonly reason?: string;
  readonly effectiveAt?: number;
  readonly force?: boolean;
}

interface Delta {
  readonly revokedSerials: readonly string[];
  readonly revokedSpiffeIds: readonly string[];
  readonly unrevokedSpiffeIds: readonly string[];
}

const NO_CHANGE: Delta = { revokedSerials: [], revokedSpiffeIds: [], unrevokedSpiffeIds: [] };

/**
 * Revokes certificates and identities and keeps the CRL. Every request is checked completely before anything is
 * written, so a refusal changes nothing; a change gets the next CRL number and a newly signed CRL that lists it,
 * both are stored in one transaction (a failure in between leaves nothing half-done), then an event with just what
 * changed goes out. Changes run one at a time, so CRL numbers and events follow one order.
 * The CRL is also re-signed (with a new number) at 3/4 of its validity, which drops long-expired entries.
 */
export class RevocationRegistry {
  readonly #options: Required<RevocationRegistryOptions>;
  readonly #deps: RevocationRegistryDeps;
  #snapshot: RevocationSnapshot | undefined;
  #storeEpoch = '';
  #tail: Promise<unknown> = Promise.resolve();
  #timer: Timer | undefined;
  #stopped = false;

  constructor(options: RevocationRegistryOptions, deps: RevocationRegistryDeps) {
    this.#options = { crlValidityMs: CRL_VALIDITY_MS, expiredEntryMarginMs: EXPIRED_ENTRY_MARGIN_MS, ...options };
    this.#deps = deps;
  }

  /** The state in force; throws UNAVAILABLE before start(). */
  get snapshot(): RevocationSnapshot {
    if (!this.#snapshot) throw new SigilError(ErrorCode.UNAVAILABLE, 'the revocation registry is not started');
    return this.#snapshot;
  }

  /**
   * Loads the CRL persisted by the last run when it is still the current number and not yet due for re-signing;
   * otherwise signs a new one. Then arms the re-signing timer.
   */
  async start(): Promise<void> {
    this.#stopped = false;
    const { store, clock } = this.#deps;
    this.#storeEpoch = (await store.getMeta(STORE_ID_META)) ?? '';
    const saved = parseSaved(await store.getMeta(CRL_META));
    const current = await store.currentSequence(CRL_SEQUENCE);
    if (
      saved &&
      saved.crlNumber === current &&
      clock.now() < crlRefreshAt(saved.thisUpdate, this.#options.crlValidityMs)
    ) {
      const revokedSerials = (await this.#listed(clock.now())).map((r) => r.serial);
      const revokedSpiffeIds = (await store.listRevokedIdentities()).map((r) => r.spiffeId);
      this.#snapshot = { ...saved, revokedSerials, revokedSpiffeIds, storeEpoch: this.#storeEpoch };
      this.#arm(crlRefreshAt(saved.thisUpdate, this.#options.crlValidityMs));
      return;
    }
    await this.#serial(() => this.#commit(NO_CHANGE));
  }

  /** Cancels the timer and waits for a change in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    await this.#tail.catch(() => undefined);
  }

  /** Waits for every change queued so far (tests use it after advancing a FakeClock). */
  async settled(): Promise<void> {
    await this.#tail.catch(() => undefined);
  }

  async revokeSerial(request: RevokeSerialRequest): Promise<RevokeResult> {
    const reason = parseRevocationReason(request.reason ?? '');
    const serial = parseSerial(request.serial);
    return this.#serial(async () => {
      const now = this.#deps.clock.now();
      const effectiveAt = effectiveTime(request.effectiveAt, now);
      const record = await this.#findCertificate(serial);
      assertRevocable(
        protectionOfCertificate(record, this.#options.trustDomain),
        `certificate ${record.serial} (${record.spiffeId})`,
        request.force === true,
      );
      const revocation = revocationOf(record, reason, now, effectiveAt);
      const changed = (await this.#deps.store.getRevocation(record.serial)) === undefined;
      const crlNumber = changed
        ? await this.#commit({ ...NO_CHANGE, revokedSerials: [record.serial] }, [revocation], (meta) =>
            this.#deps.store.revokeCertificates([revocation], meta),
          )
        : this.snapshot.crlNumber;
      this.#deps.logger.info(
        { serial: record.serial, spiffe_id: record.spiffeId, reason, crl_number: crlNumber, changed },
        'certificate revoked',
      );
      return { revokedSerials: [record.serial], crlNumber };
    });
  }

  /**
   * Revokes every unexpired certificate of the identity and remembers the identity, so Attest and Renew refuse
   * it until unrevokeIdentity. An identity with no certificate yet can be revoked too (e.g. a leaked join token).
   */
  async revokeIdentity(request: RevokeIdentityRequest): Promise<RevokeResult> {
    const reason = parseRevocationReason(request.reason ?? '');
    const { trustDomain } = this.#options;
    const id = parseWorkloadId(request.spiffeId, trustDomain);
    const force = request.force === true;
    assertRevocable(protectionOfIdentity(id.uri, trustDomain), `identity ${id.uri}`, force);
    return this.#serial(async () => {
      const { store, clock } = this.#deps;
      const now = clock.now();
      const effectiveAt = effectiveTime(request.effectiveAt, now);
      const live = await store.listCertificates({ spiffeId: id.uri, notAfterAfter: now });
      for (const record of live)
        assertRevocable(
          protectionOfCertificate(record, trustDomain),
          `certificate ${record.serial} of ${id.uri}`,
          force,
        );
      const revocations = live.map((r) => revocationOf(r, reason, now, effectiveAt));
      const fresh: RevocationRecord[] = [];
      for (const r of revocations) if ((await store.getRevocation(r.serial)) === undefined) fresh.push(r);
      const identityAdded = (await store.getRevokedIdentity(id.uri)) === undefined;
      const changed = identityAdded || fresh.length > 0;
      const crlNumber = changed
        ? await this.#commit(
            {
              ...NO_CHANGE,
              revokedSerials: fresh.map((r) => r.serial),
              revokedSpiffeIds: identityAdded ? [id.uri] : [],
            },
            fresh,
            (meta) => store.revokeIdentity({ spiffeId: id.uri, reason, revokedAt: now }, revocations, meta),
          )
        : this.snapshot.crlNumber;
      this.#deps.logger.info(
        { spiffe_id: id.uri, reason, serials: live.length, crl_number: crlNumber, changed },
        'identity revoked',
      );
      return { revokedSerials: live.map((r) => r.serial), crlNumber };
    });
  }

  /** Lets the identity attest and renew again. Its revoked certificates stay revoked. */
  async unrevokeIdentity(spiffeId: string): Promise<{ readonly crlNumber: number }> {
    const id = parseWorkloadId(spiffeId, this.#options.trustDomain);
    return this.#serial(async () => {
      const { store } = this.#deps;
      const removed = (await store.getRevokedIdentity(id.uri)) !== undefined;
      const crlNumber = removed
        ? await this.#commit({ ...NO_CHANGE, unrevokedSpiffeIds: [id.uri] }, [], (meta) =>
            store.unrevokeIdentity(id.uri, meta),
          )
        : this.snapshot.crlNumber;
      this.#deps.logger.info({ spiffe_id: id.uri, crl_number: crlNumber, changed: removed }, 'identity unrevoked');
      return { crlNumber };
    });
  }

  /**
   * Brings the snapshot up to the CRL another replica stored (after its announcement, or the periodic backstop);
   * never goes back to an older CRL number.
   */
  async reload(): Promise<void> {
    const { store, clock } = this.#deps;
    const saved = parseSaved(await store.getMeta(CRL_META));
    const current = this.#snapshot;
    if (!saved || (current && saved.crlNumber <= current.crlNumber)) return;
    const revokedSerials = (await this.#listed(clock.now())).map((r) => r.serial);
    const revokedSpiffeIds = (await store.listRevokedIdentities()).map((r) => r.spiffeId);
    // Checked again: a change of this replica may have moved on while the lists were read.
    if (this.#snapshot && saved.crlNumber <= this.#snapshot.crlNumber) return;
    this.#snapshot = { ...saved, revokedSerials, revokedSpiffeIds, storeEpoch: this.#storeEpoch };
    this.#arm(crlRefreshAt(saved.thisUpdate, this.#options.crlValidityMs));
  }

  #serial<T>(body: () => Promise<T>): Promise<T> {
    const exclusive = this.#deps.exclusive;
    const fn = exclusive ? () => exclusive(body) : body;
    const run = this.#tail.then(fn, fn);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #findCertificate(serial: string): Promise<CertificateRecord> {
    for (const candidate of serialCandidates(serial)) {
      const record = await this.#deps.store.getCertificate(candidate);
      if (record) return record;
    }
    throw new SigilError(
      ErrorCode.NOT_FOUND,
      `no certificate with serial ${serial} in the inventory: see sigil certs list`,
    );
  }

  /**
   * Next CRL number and a new CRL listing what the store holds plus `added`, then `write` stores the change and that
   * CRL in one transaction (without `write`: the CRL alone), then the snapshot and the event follow. A failure
   * before or in the transaction leaves the store as it was (a CRL number may be skipped: sidecars treat the gap by
   * fetching the full state). Runs under #serial, so nothing else changes revocations meanwhile.
   */
  async #commit(
    delta: Delta,
    added: readonly RevocationRecord[] = [],
    write?: (meta: MetaEntry) => Promise<unknown>,
  ): Promise<number> {
    const { store, clock } = this.#deps;
    const crlNumber = await store.nextSequence(CRL_SEQUENCE);
    const now = clock.now();
    // Replicas' clocks may differ by seconds: a newer CRL never claims an earlier thisUpdate than the last one stored.
    const previous = parseSaved(await store.getMeta(CRL_META));
    const thisUpdate = Math.max(Math.floor(now / 1000) * 1000, previous?.thisUpdate ?? 0);
    const nextUpdate = thisUpdate + this.#options.crlValidityMs;
    const floor = now - this.#options.expiredEntryMarginMs;
    const revocations = withAdded(
      await this.#listed(now),
      added.filter((r) => r.notAfter > floor || r.listedPastExpiry === true),
    );
    const crlDer = await this.#deps.signer.signCrl({
      crlNumber,
      thisUpdate,
      nextUpdate,
      entries: revocations.map((r) => ({
        serial: r.serial,
        revokedAt: r.revokedAt,
        reasonCode: reasonCode(parseRevocationReason(r.reason)),
        invalidSince: r.effectiveAt,
      })),
    });
    const meta = {
      key: CRL_META,
      value: JSON.stringify({ crlNumber, thisUpdate, nextUpdate, crl: Buffer.from(crlDer).toString('base64') }),
    };
    await (write ? write(meta) : store.setMeta(meta.key, meta.value));
    const revokedSpiffeIds = (await store.listRevokedIdentities()).map((r) => r.spiffeId);
    this.#snapshot = {
      crlNumber,
      crlDer,
      thisUpdate,
      nextUpdate,
      revokedSerials: revocations.map((r) => r.serial),
      revokedSpiffeIds,
      storeEpoch: this.#storeEpoch,
    };
    this.#arm(crlRefreshAt(thisUpdate, this.#options.crlValidityMs));
    await this.#publish({
      type: 'revocation.updated',
      crlNumber,
      ...delta,
      ...(this.#storeEpoch ? { storeEpoch: this.#storeEpoch } : {}),
    });
    await this.#deps.announce?.();
    return crlNumber;
  }

  /** The revocations a CRL made at `now` lists: expired certificates leave once past the safety margin. */
  #listed(now: number): Promise<RevocationRecord[]> {
    return this.#deps.store.listRevocations({ notAfterAfter: now - this.#options.expiredEntryMarginMs });
  }

  /** Delivery is best effort (sidecars also fetch over gRPC): a failed publish is logged, never fails the change. */
  async #publish(event: SigilEvent): Promise<void> {
    try {
      await this.#deps.publisher?.publish(event);
    } catch (err) {
      this.#deps.logger.warn(
        { err, [LogField.errCode]: (err as SigilError).code },
        'revocation event not published; sidecars will converge through FetchTrust',
      );
    }
  }

  #arm(at: number): void {
    this.#timer?.cancel();
    if (this.#stopped) return;
    this.#timer = this.#deps.clock.setTimer(at - this.#deps.clock.now(), () => {
      this.#timer = undefined;
      // Re-signing is a singleton duty: a follower only picks up what the leader signed.
      if (this.#deps.isLeader && !this.#deps.isLeader()) {
        void this.reload().finally(() => {
          if (!this.#timer) this.#arm(this.#deps.clock.now() + RETRY_MS);
        });
        return;
      }
      this.#serial(() => this.#commit(NO_CHANGE)).then(
        (crlNumber) => this.#deps.logger.info({ crl_number: crlNumber }, 'CRL re-signed'),
        (err: unknown) => {
          this.#deps.logger.error(
            { err, [LogField.errCode]: (err as SigilError).code },
            'CRL re-signing failed; retrying',
          );
          this.#arm(this.#deps.clock.now() + RETRY_MS);
        },
      );
    });
  }
}

/** The listed revocations with `added` merged in, ordered by serial as the store lists them. */
function withAdded(listed: RevocationRecord[], added: readonly RevocationRecord[]): RevocationRecord[] {
  if (added.length === 0) return listed;
  const known = new Set(listed.map((r) => r.serial));
  const merged = [...listed, ...added.filter((r) => !known.has(r.serial))];
  return merged.sort((a, b) => (a.serial < b.serial ? -1 : a.serial > b.serial ? 1 : 0));
}

function revocationOf(
  record: CertificateRecord,
  reason: RevocationReason,
  now: number,
  effectiveAt: number,
): RevocationRecord {
  return {
    serial: record.serial,
    spiffeId: record.spiffeId,
    reason,
    revokedAt: now,
    effectiveAt,
    notAfter: record.notAfter,
    // A signature outlives its certificate: verifiers judge it years later against the CRL, which must still list it.
    listedPastExpiry: record.kind === 'code-signing' || record.kind === 'timestamping',
  };
}

function parseSaved(
  text: string | undefined,
): Omit<RevocationSnapshot, 'revokedSerials' | 'revokedSpiffeIds' | 'storeEpoch'> | undefined {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as { crlNumber?: unknown; thisUpdate?: unknown; nextUpdate?: unknown; crl?: unknown };
    if (
      typeof v.crlNumber !== 'number' ||
      typeof v.thisUpdate !== 'number' ||
      typeof v.nextUpdate !== 'number' ||
      typeof v.crl !== 'string'
    )
      return undefined;
    return {
      crlNumber: v.crlNumber,
      thisUpdate: v.thisUpdate,
      nextUpdate: v.nextUpdate,
      crlDer: new Uint8Array(Buffer.from(v.crl, 'base64')),
    };
  } catch {
    return undefined;
  }
}
