import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type {
  InventoryCertificateRecord,
  InventoryListingQuery,
  InventoryListingRow,
  InventoryListingWrite,
  InventorySort,
  ListingOrigin,
  SightingRecord,
  Store,
} from '../store/store.ts';
import type { WatchedCertificate } from './alert-plan.ts';
import { type Finding, certificateFindings } from './compliance-rules.ts';
import {
  type CertificateDescription,
  describeCertificate,
  INVENTORY_SOURCES,
  INVENTORY_STATUSES,
  type InventoryEntry,
  type InventorySource,
  type InventoryStatus,
  nameOf,
} from './inventory-entry.ts';
import { entryOfListing, listingFactsOf, listingWriteOf } from './inventory-listing.ts';

export interface InventoryQuery {
  readonly source?: InventorySource;
  readonly owner?: string;
  /** Every label must match. */
  readonly labels?: Readonly<Record<string, string>>;
  readonly status?: InventoryStatus;
  /** Only certificates not yet expired that expire within this many ms. */
  readonly expiringWithinMs?: number;
  readonly spiffeId?: string;
  readonly kind?: string;
  /** At most this many entries per page (default and cap 1000). */
  readonly pageSize?: number;
  /** Opaque: from the previous page's `nextPageToken`. */
  readonly pageToken?: string;
}

export interface InventoryPage {
  readonly entries: readonly InventoryEntry[];
  /** '' on the last page. */
  readonly nextPageToken: string;
  readonly total: number;
}

/** A page of rows as the dashboard's table shows them: no certificate parsed. */
export interface InventoryRowQuery {
  /** A substring of the name, subject, serial, a SPIFFE ID or a DNS name, any case. */
  readonly text?: string;
  readonly source?: string;
  readonly status?: string;
  readonly kind?: string;
  readonly sort?: InventorySort;
  readonly descending?: boolean;
  readonly offset?: number;
  readonly limit: number;
}

/** One file or endpoint to record: its certificates (DER), leaf first, the rest its chain. */
export interface CertificateBatch {
  readonly location: string;
  readonly certificates: readonly Uint8Array[];
}

const PAGE_MAX = 1000;
/**
 * The catch-up reads and writes this many certificates per step, and gives the event loop a turn after parsing each
 * PARSES_PER_TURN (parsing costs 1-6 ms a certificate on a loaded 2-core machine); a full walk reads SCAN_BATCH rows
 * per turn.
 */
const CATCH_UP_BATCH = 100;
const PARSES_PER_TURN = 4;
const SCAN_BATCH = 2000;
/**
 * A listing waits for a catch-up of at most this many certificates (what the CA issued since the last listing:
 * seconds at worst), so it is exact; a larger one (a store from before the listing, or a bulk import) goes on in the
 * background and pages show what is listed so far, rather than a call timing out.
 */
const CATCH_UP_WAIT_MAX = 100;

/**
 * The one inventory of every certificate: the CA's table (issued, ACME, code signing) and the imported and discovered
 * ones, as entries with their facts, sightings and effective status. Pages are filtered, sorted and counted in the
 * store's listing (one row per certificate with the columns pages use); only the certificates of a page are parsed.
 * Adding records validates everything before the store is touched, so a bad certificate leaves nothing half-written.
 */
export class InventoryService {
  readonly #store: Store;
  readonly #clock: Clock;
  #catchingUp: Promise<void> | undefined;

  constructor(deps: { readonly store: Store; readonly clock: Clock }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
  }

  /**
   * Lists the certificates recorded without a listing row (issued ones, and every row stored before the listing
   * existed), a batch at a time with turns of the event loop between, so calls keep being answered while a large
   * inventory is caught up. One run at a time. Rejects when the store fails (the next read tries again).
   */
  catchUp(): Promise<void> {
    this.#catchingUp ??= this.#catchUp().finally(() => {
      this.#catchingUp = undefined;
    });
    return this.#catchingUp;
  }

  async #catchUp(): Promise<void> {
    if ((await this.#store.countUnlisted()) <= 0) return;
    let after: { origin: ListingOrigin; ref: string } | undefined;
    for (;;) {
      const batch = await this.#store.unlistedCertificates(CATCH_UP_BATCH, after);
      const last = batch.at(-1);
      if (!last) return;
      const writes: InventoryListingWrite[] = [];
      for (const c of batch) {
        writes.push(listingWriteOf(c));
        if (writes.length % PARSES_PER_TURN === 0) await yieldToLoop();
      }
      await this.#store.recordInventoryListing(writes);
      after = { origin: last.origin, ref: last.ref };
      await yieldToLoop();
    }
  }

  /** Starts the catch-up and waits for it when it is small (see CATCH_UP_WAIT_MAX). */
  async #ready(): Promise<void> {
    const backlog = await this.#store.countUnlisted();
    if (backlog <= 0) return;
    const run = this.catchUp();
    if (backlog <= CATCH_UP_WAIT_MAX) return run;
    // Not awaited: a failure is retried by the next read, and the alert duty (which waits) reports it.
    run.catch(() => undefined);
  }

  /** The page of the Admin API's ListInventory (`sigil certs list`): ordered by notAfter, then id. */
  async list(query: InventoryQuery = {}): Promise<InventoryPage> {
    validateQuery(query);
    const now = this.#clock.now();
    const offset = query.pageToken ? Number.parseInt(query.pageToken, 10) : 0;
    const size = Math.min(query.pageSize || PAGE_MAX, PAGE_MAX);
    const { entries, total } = await this.#entries({
      now,
      ...(query.source ? { source: query.source } : {}),
      ...(query.owner ? { owner: query.owner } : {}),
      ...(query.labels ? { labels: query.labels } : {}),
      ...(query.status ? { status: query.status } : {}),
      ...(query.spiffeId ? { spiffeId: query.spiffeId } : {}),
      ...(query.kind ? { kind: query.kind } : {}),
      ...(query.expiringWithinMs ? { notAfterAfter: now, notAfterAtMost: now + query.expiringWithinMs } : {}),
      offset,
      limit: size,
    });
    const next = offset + size < total ? String(offset + size) : '';
    return { entries, nextPageToken: next, total };
  }

  /** A page of listing rows (the dashboard's table): filtered, sorted and counted in the store, nothing parsed. */
  async rows(query: InventoryRowQuery): Promise<{ rows: InventoryListingRow[]; total: number }> {
    await this.#ready();
    return this.#store.listInventoryPage({
      now: this.#clock.now(),
      ...(query.text ? { text: query.text.toLowerCase() } : {}),
      ...(query.source ? { source: query.source } : {}),
      ...(query.status ? { status: query.status } : {}),
      ...(query.kind ? { kind: query.kind } : {}),
      ...(query.sort ? { sort: query.sort } : {}),
      ...(query.descending ? { descending: true } : {}),
      offset: query.offset ?? 0,
      limit: query.limit,
    });
  }

  /** The entries whose id (fingerprint) or serial is `ref`, fully described, ordered by notAfter. */
  async find(ref: string): Promise<InventoryEntry[]> {
    const wanted = ref.toLowerCase().replace(/^0x/, '').replaceAll(':', '');
    return (await this.#entries({ now: this.#clock.now(), ref: wanted, limit: PAGE_MAX })).entries;
  }

  /** How many certificates there are, by status (settled now) and by source. */
  async counts(): Promise<{
    total: number;
    byStatus: Record<string, number>;
    bySource: Record<string, number>;
  }> {
    await this.#ready();
    const byStatus: Record<string, number> = {};
    const bySource: Record<string, number> = {};
    let total = 0;
    for (const c of await this.#store.countInventory(this.#clock.now())) {
      total += c.count;
      byStatus[c.status] = (byStatus[c.status] ?? 0) + c.count;
      bySource[c.source] = (bySource[c.source] ?? 0) + c.count;
    }
    return { total, byStatus, bySource };
  }

  /**
   * What the alert engine watches, for every certificate: read from the listing a batch at a time with a turn of the
   * event loop between batches, never parsing a certificate. Waits for the whole catch-up: a certificate missing
   * from the listing would have its alerts resolved as removed.
   */
  async watched(): Promise<WatchedCertificate[]> {
    await this.catchUp();
    const now = this.#clock.now();
    const out: WatchedCertificate[] = [];
    let after: { origin: ListingOrigin; ref: string } | undefined;
    for (;;) {
      const batch = await this.#store.scanInventoryListing(now, after, SCAN_BATCH);
      for (const r of batch)
        out.push({
          id: r.facts.id,
          name: r.name,
          source: r.source,
          serial: r.facts.serial,
          subject: r.facts.subject,
          owner: r.owner,
          notBefore: r.facts.notBefore,
          notAfter: r.facts.notAfter,
          status: r.status,
        });
      const last = batch.at(-1);
      if (!last || batch.length < SCAN_BATCH) return out;
      after = { origin: last.origin, ref: last.ref };
      await yieldToLoop();
    }
  }

  /** Every certificate, fully described, ordered by notAfter then id: for tests and small inventories only. */
  async all(): Promise<InventoryEntry[]> {
    const out: InventoryEntry[] = [];
    for (let offset = 0; ; offset += PAGE_MAX) {
      const { entries, total } = await this.#entries({ now: this.#clock.now(), offset, limit: PAGE_MAX });
      out.push(...entries);
      if (offset + PAGE_MAX >= total) return out;
    }
  }

  /** One page of full entries: the listing filters, sorts and counts; only the page's certificates are parsed. */
  async #entries(query: InventoryListingQuery): Promise<{ entries: InventoryEntry[]; total: number }> {
    await this.#ready();
    const { rows, total } = await this.#store.listInventoryPage({ ...query, withCertificates: true });
    const entries: InventoryEntry[] = [];
    for (const row of rows) {
      const seen: SightingRecord[] = row.origin === 'external' ? await this.#store.listSightings(row.ref) : [];
      entries.push(entryOfListing(row, seen));
    }
    return { entries, total };
  }

  /**
   * Sets the owner and labels of one certificate of the inventory, issued ones included, named by its id
   * (fingerprint) or serial. A non-empty owner replaces, labels extend, a label with an empty value is removed.
   */
  async annotate(
    ref: string,
    change: { readonly owner: string; readonly labels: Readonly<Record<string, string>> },
  ): Promise<InventoryEntry> {
    if (change.owner === '' && Object.keys(change.labels).length === 0)
      throw new SigilError(ErrorCode.INVALID_ARGUMENT, 'nothing to set: give an owner or at least one label');
    for (const k of Object.keys(change.labels))
      if (!LABEL_KEY.test(k))
        throw new SigilError(
          ErrorCode.INVALID_ARGUMENT,
          `label key ${JSON.stringify(k)} is not valid: use letters, digits, '.', '_', '/' or '-' (up to 63)`,
        );
    const found = await this.find(ref);
    if (found.length === 0)
      throw new SigilError(
        ErrorCode.NOT_FOUND,
        `no certificate with id or serial ${ref} in the inventory: see sigil certs list`,
      );
    if (found.length > 1)
      throw new SigilError(
        ErrorCode.INVALID_ARGUMENT,
        `serial ${ref} names ${found.length} certificates: give the id (sha256 fingerprint) from sigil certs list`,
      );
    const entry = found[0] as InventoryEntry;
    await this.#store.annotateCertificate({ fingerprint: entry.id, ...change, updatedAt: this.#clock.now() });
    const after = (await this.find(entry.id)).find((e) => e.id === entry.id);
    return after ?? entry;
  }

  /**
   * Records the certificates of several files or endpoints in one transaction. The first certificate of a batch is
   * its leaf and the rest its chain; every certificate of an imported file is recorded, only the leaf of an endpoint.
   */
  async record(
    source: 'imported' | 'discovered',
    batches: readonly CertificateBatch[],
    annotations: { readonly owner?: string; readonly labels?: Readonly<Record<string, string>> } = {},
  ): Promise<InventoryEntry[]> {
    const now = this.#clock.now();
    const records: InventoryCertificateRecord[] = [];
    const sightings: SightingRecord[] = [];
    for (const batch of batches) {
      const described = batch.certificates.map((der, i) => describeOrRefuse(batch.location, der, i));
      const kept = source === 'discovered' ? described.slice(0, 1) : described;
      kept.forEach(({ der, d }, i) => {
        records.push({
          fingerprint: d.fingerprintSha256,
          source,
          serial: d.serial,
          name: nameOf(d),
          subject: d.subject,
          notBefore: d.notBefore,
          notAfter: d.notAfter,
          owner: annotations.owner ?? '',
          labels: annotations.labels ?? {},
          status: 'active',
          der,
          chain: described.slice(i + 1).map((c) => c.der),
          recordedAt: now,
          facts: listingFactsOf(d),
        });
        sightings.push({ fingerprint: d.fingerprintSha256, location: batch.location, firstSeen: now, lastSeen: now });
      });
    }
    await this.#store.recordInventory(records, sightings);
    const entries: InventoryEntry[] = [];
    for (const id of new Set(records.map((r) => r.fingerprint))) entries.push(...(await this.find(id)));
    return entries.sort((a, b) => a.notAfter - b.notAfter || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}

const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/;

function describeOrRefuse(
  location: string,
  der: Uint8Array,
  i: number,
): { der: Uint8Array; d: CertificateDescription } {
  try {
    return { der, d: describeCertificate(der) };
  } catch (cause) {
    throw new SigilError(
      ErrorCode.CERTIFICATE_INPUT,
      `${location}: certificate ${i + 1} could not be decoded: supply X.509 certificates`,
      { cause, details: { location } },
    );
  }
}

function validateQuery(q: InventoryQuery): void {
  const bad = (message: string) => new SigilError(ErrorCode.INVALID_ARGUMENT, message);
  if (q.source && !INVENTORY_SOURCES.includes(q.source))
    throw bad(`unknown source ${JSON.stringify(q.source)}: use one of ${INVENTORY_SOURCES.join(', ')}`);
  if (q.status && !INVENTORY_STATUSES.includes(q.status))
    throw bad(`unknown status ${JSON.stringify(q.status)}: use one of ${INVENTORY_STATUSES.join(', ')}`);
  if (q.pageToken && !/^\d+$/.test(q.pageToken)) throw bad('malformed page token: pass the one the last page returned');
}

/** The compliance findings of every entry that is still in force. */
export function inventoryFindings(entries: readonly InventoryEntry[]): Finding[] {
  return entries.flatMap((e) => certificateFindings(e));
}
