import type { InventoryRowQuery } from '../lifecycle/inventory-service.ts';
import type { InventoryListingRow } from '../store/store.ts';
import type { InventoryPageQuery, JsonObject } from './dashboard-data.ts';

/** The columns of one row of the inventory table, as the listing holds them (no certificate parsed). */
export interface InventoryRowFacts {
  readonly id: string;
  readonly name: string;
  readonly source: string;
  readonly kind: string;
  readonly serial: string;
  readonly status: string;
  readonly notAfter: number;
  readonly owner: string;
  readonly keyAlgorithm: string;
  readonly keyBits: number;
}

/** One row of the inventory table: what the list shows, not the certificate. */
export function inventoryRow(e: InventoryRowFacts): JsonObject {
  return {
    id: e.id,
    name: e.name,
    source: e.source,
    kind: e.kind,
    serial: e.serial,
    status: e.status,
    notAfter: e.notAfter,
    owner: e.owner,
    keyAlgorithm: e.keyAlgorithm,
    keyBits: e.keyBits,
  };
}

export function rowFactsOf(r: InventoryListingRow): InventoryRowFacts {
  return {
    id: r.facts.id,
    name: r.name,
    source: r.source,
    kind: r.kind,
    serial: r.facts.serial,
    status: r.status,
    notAfter: r.facts.notAfter,
    owner: r.owner,
    keyAlgorithm: r.facts.keyAlgorithm,
    keyBits: r.facts.keyBits,
  };
}

/** The dashboard's query in the inventory's words: filtered, sorted and paged by the store, never in the browser. */
export function rowQueryOf(q: InventoryPageQuery): InventoryRowQuery {
  return {
    ...(q.q ? { text: q.q } : {}),
    ...(q.source ? { source: q.source } : {}),
    ...(q.status ? { status: q.status } : {}),
    ...(q.kind ? { kind: q.kind } : {}),
    sort: q.sort ?? 'notAfter',
    ...(q.order === 'desc' ? { descending: true } : {}),
    offset: q.offset ?? 0,
    limit: q.limit ?? 50,
  };
}
