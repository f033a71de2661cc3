import { createHash } from 'node:crypto';
import type { Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { CertificateAnnotationRecord, InventoryCertificateRecord, SightingRecord, Store } from '../store/store.ts';
import { type Finding, certificateFindings } from './compliance-rules.ts';
import {
  type CertificateDescription,
  describeCertificate,
  entryOfRecord,
  INVENTORY_SOURCES,
  INVENTORY_STATUSES,
  type InventoryEntry,
  type InventorySource,
  type InventoryStatus,
  nameOf,
} from './inventory-entry.ts';
import { settleStatuses } from './inventory-status.ts';

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

/** One file or endpoint to record: its certificates (DER), leaf first, the rest its chain. */
export interface CertificateBatch {
  readonly location: string;
  readonly certificates: readonly Uint8Array[];
}

const PAGE_MAX = 1000;

/**
 * The one inventory of every certificate: the CA's table (issued, ACME, code signing) and the imported and discovered
 * ones, as entries with their facts, sightings and effective status. Adding records validates everything before the
 * store is touched, so a bad certificate leaves nothing half-written.
 */
export class InventoryService {
  readonly #store: Store;
  readonly #clock: Clock;
  /**
   * Parsed certificates by DER fingerprint: a certificate never changes, and parsing is most of what listing costs
   * (100,000 certificates: seconds to parse, milliseconds to filter). Rebuilt on each listing with only the
   * certificates still in the store, so it never outgrows the inventory.
   */
  #described = new Map<string, CertificateDescription>();

  constructor(deps: { readonly store: Store; readonly clock: Clock }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
  }

  /** Every certificate with its status settled at now, ordered by notAfter then id. */
  async all(): Promise<InventoryEntry[]> {
    const [issued, external, sightings, annotations] = await Promise.all([
      this.#store.listCertificates(),
      this.#store.listInventory(),
      this.#store.listSightings(),
      this.#store.listCertificateAnnotations(),
    ]);
    const seen = new Map<string, SightingRecord[]>();
    for (const s of sightings) seen.set(s.fingerprint, [...(seen.get(s.fingerprint) ?? []), s]);
    const labelled = new Map(annotations.map((a) => [a.fingerprint, a]));
    const previous = this.#described;
    const described = new Map<string, CertificateDescription>();
    const describe = (der: Uint8Array) => {
      const key = createHash('sha256').update(der).digest('hex');
      const d = previous.get(key) ?? describeCertificate(der);
      described.set(key, d);
      return d;
    };
    const entries = [
      ...issued.map((r) => entryOfRecord(r, describe)),
      ...external.map((r) => entryOfExternal(r, seen.get(r.fingerprint) ?? [], describe)),
    ]
      .map((e) => withAnnotation(e, labelled.get(e.id)))
      .sort((a, b) => a.notAfter - b.notAfter || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.#described = described;
    return settleStatuses(entries, this.#clock.now());
  }

  async list(query: InventoryQuery = {}): Promise<InventoryPage> {
    validateQuery(query);
    const now = this.#clock.now();
    const matching = (await this.all()).filter((e) => matches(e, query, now));
    const offset = query.pageToken ? Number.parseInt(query.pageToken, 10) : 0;
    const size = Math.min(query.pageSize || PAGE_MAX, PAGE_MAX);
    const entries = matching.slice(offset, offset + size);
    const next = offset + size < matching.length ? String(offset + size) : '';
    return { entries, nextPageToken: next, total: matching.length };
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
    const wanted = ref.toLowerCase().replace(/^0x/, '').replaceAll(':', '');
    const found = (await this.all()).filter((e) => e.id === wanted || e.serial === wanted);
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
    const after = (await this.all()).find((e) => e.id === entry.id);
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
        });
        sightings.push({ fingerprint: d.fingerprintSha256, location: batch.location, firstSeen: now, lastSeen: now });
      });
    }
    await this.#store.recordInventory(records, sightings);
    const ids = new Set(records.map((r) => r.fingerprint));
    return (await this.all()).filter((e) => ids.has(e.id));
  }
}

const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/;

/** Labels set with `sigil certs label` win over those recorded at import; issued certificates only have these. */
function withAnnotation(e: InventoryEntry, a: CertificateAnnotationRecord | undefined): InventoryEntry {
  if (!a) return e;
  return { ...e, owner: a.owner !== '' ? a.owner : e.owner, labels: { ...e.labels, ...a.labels } };
}

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

export function entryOfExternal(
  r: InventoryCertificateRecord,
  seen: readonly SightingRecord[],
  describe: (der: Uint8Array) => CertificateDescription = describeCertificate,
): InventoryEntry {
  const d = describe(r.der);
  return {
    ...d,
    id: r.fingerprint,
    source: r.source,
    kind: '',
    name: r.name,
    owner: r.owner,
    labels: r.labels,
    status: r.status,
    recordedStatus: r.status,
    supersededBy: null,
    der: r.der,
    chain: r.chain,
    seen: seen.map((s) => ({ location: s.location, firstSeen: s.firstSeen, lastSeen: s.lastSeen })),
  };
}

function matches(e: InventoryEntry, q: InventoryQuery, now: number): boolean {
  if (q.source && e.source !== q.source) return false;
  if (q.owner !== undefined && q.owner !== '' && e.owner !== q.owner) return false;
  if (q.status && e.status !== q.status) return false;
  if (q.spiffeId && !(e.uris.includes(q.spiffeId) || e.name === q.spiffeId)) return false;
  if (q.kind && e.kind !== q.kind) return false;
  for (const [k, v] of Object.entries(q.labels ?? {})) if (e.labels[k] !== v) return false;
  if (q.expiringWithinMs && !(e.notAfter > now && e.notAfter <= now + q.expiringWithinMs)) return false;
  return true;
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
