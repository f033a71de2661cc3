import type { InventoryEntry } from '../lifecycle/inventory-entry.ts';
import type { InventoryPageQuery, JsonObject } from './dashboard-data.ts';

/** One row of the inventory table: what the list shows, not the certificate. */
export function inventoryRow(e: InventoryEntry): JsonObject {
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

function text(e: InventoryEntry, key: 'name' | 'source' | 'status' | 'kind'): string {
  return e[key];
}

/** Code-unit order: stable and fast over 100,000 rows (localeCompare is ten times slower). */
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Filters, sorts and pages the inventory on the server: a browser never holds more than one page. */
export function inventoryPage(entries: readonly InventoryEntry[], q: InventoryPageQuery): JsonObject {
  const needle = (q.q ?? '').toLowerCase();
  const matching = entries.filter(
    (e) =>
      (!q.source || e.source === q.source) &&
      (!q.status || e.status === q.status) &&
      (!q.kind || e.kind === q.kind) &&
      (needle === '' ||
        e.name.toLowerCase().includes(needle) ||
        e.subject.toLowerCase().includes(needle) ||
        e.serial.includes(needle) ||
        e.uris.some((u) => u.toLowerCase().includes(needle)) ||
        e.dnsNames.some((d) => d.toLowerCase().includes(needle))),
  );
  const sort = q.sort ?? 'notAfter';
  const sign = q.order === 'desc' ? -1 : 1;
  const sorted =
    sort === 'notAfter'
      ? matching.sort((a, b) => sign * (a.notAfter - b.notAfter) || (a.id < b.id ? -1 : 1))
      : matching.sort((a, b) => sign * compare(text(a, sort), text(b, sort)) || a.notAfter - b.notAfter);
  const offset = q.offset ?? 0;
  const limit = q.limit ?? 50;
  return {
    total: sorted.length,
    offset,
    limit,
    entries: sorted.slice(offset, offset + limit).map(inventoryRow),
  };
}
