import { settleGroup, type SettledStatus, successionKey } from '../lifecycle/inventory-status.ts';
import type { Row, SqlDialect, SqlExecutor, SqlValue } from './sql-database.ts';
import type {
  CertificateStatus,
  InventoryListingQuery,
  InventoryListingRow,
  InventoryListingWrite,
  InventorySort,
  ListingOrigin,
  UnlistedCertificate,
} from './store.ts';

/**
 * The inventory listing (migration 11) in SQL both engines speak: one row per certificate of `certificates` and
 * `inventory_certificates` with the columns pages are filtered and sorted on, kept in step by SqlStore's writes (in
 * their transactions) and by the inventory's catch-up for rows recorded without facts. Its `settled` column is the
 * clock-free status (inventory-status.ts); `statusSql` turns it into the status at a given time.
 */

/** Newline-delimited so a URI matches whole: `\nspiffe://td/a\n` is not found inside `\nspiffe://td/ab\n`. */
const urisText = (uris: readonly string[]) => `\n${uris.join('\n')}\n`;

function searchText(w: InventoryListingWrite): string {
  const f = w.facts;
  return [w.name, f.subject, f.serial, ...f.uris, ...f.dnsNames].join('\n').toLowerCase();
}

/** The status at a time bound as the first parameter. */
const STATUS_SQL =
  "CASE WHEN settled = 'live' THEN (CASE WHEN not_after <= ? THEN 'expired' ELSE 'active' END) ELSE settled END";

/** Substring test: SQLite's instr, PostgreSQL's strpos (LIKE would need its wildcards escaped). */
const contains = (dialect: SqlDialect, column: string) =>
  dialect === 'sqlite' ? `instr(${column}, ?) > 0` : `strpos(${column}, ?) > 0`;

/** An annotation's owner wins over the recorded one; its labels extend them. */
function effective(
  base: { owner: string; labels: Record<string, string> },
  annotation: Row | undefined,
): { owner: string; labels: string } {
  if (!annotation) return { owner: base.owner, labels: JSON.stringify(base.labels) };
  const owner = annotation['owner'] as string;
  const labels = { ...base.labels, ...(JSON.parse(annotation['labels'] as string) as Record<string, string>) };
  return { owner: owner !== '' ? owner : base.owner, labels: JSON.stringify(labels) };
}

const annotationOf = (x: SqlExecutor, id: string) =>
  x.get('reading certificate labels', 'SELECT owner, labels FROM certificate_annotations WHERE fingerprint = ?', [id]);

/** Inserts one row whose mutable state is known (a row already there is kept). */
export async function insertListing(
  x: SqlExecutor,
  w: InventoryListingWrite,
  state: {
    readonly owner: string;
    readonly labels: Record<string, string>;
    readonly status: CertificateStatus;
    readonly supersededBy: string | null;
  },
): Promise<void> {
  const f = w.facts;
  const { owner, labels } = effective(state, await annotationOf(x, f.id));
  await x.run(
    `listing certificate ${f.id}`,
    `INSERT INTO inventory_listing (origin, ref, id, source, kind, name, serial, subject, issuer, not_before, not_after,
    key_algorithm, key_bits, is_ca, uris, dns_names, search, succession, owner, labels, recorded_status, superseded_by,
    settled) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (origin, ref) DO NOTHING`,
    [
      w.origin,
      w.ref,
      f.id,
      w.source,
      w.kind,
      w.name,
      f.serial,
      f.subject,
      f.issuer,
      f.notBefore,
      f.notAfter,
      f.keyAlgorithm,
      f.keyBits,
      f.isCa ? 1 : 0,
      urisText(f.uris),
      f.dnsNames.join('\n'),
      searchText(w),
      successionKey(f.isCa, w.kind, w.name),
      owner,
      labels,
      state.status,
      state.supersededBy,
      state.status === 'revoked' ? 'revoked' : state.supersededBy ? 'superseded' : 'live',
    ],
  );
}

/** Adds rows for certificates already in their tables, reading their state there; then settles their groups. */
export async function recordListing(x: SqlExecutor, writes: readonly InventoryListingWrite[]): Promise<void> {
  for (const w of writes) {
    if (w.origin === 'ca') {
      const row = await x.get(
        'reading a certificate',
        'SELECT status, superseded_by FROM certificates WHERE serial = ?',
        [w.ref],
      );
      if (!row) continue;
      await insertListing(x, w, {
        owner: '',
        labels: {},
        status: row['status'] as CertificateStatus,
        supersededBy: (row['superseded_by'] as string | null) ?? null,
      });
    } else {
      const row = await x.get(
        'reading an inventory certificate',
        'SELECT status, owner, labels FROM inventory_certificates WHERE fingerprint = ?',
        [w.ref],
      );
      if (!row) continue;
      await insertListing(x, w, {
        owner: row['owner'] as string,
        labels: JSON.parse(row['labels'] as string) as Record<string, string>,
        status: row['status'] as CertificateStatus,
        supersededBy: null,
      });
    }
  }
  await settle(x, writes);
}

/** Recomputes the effective owner and labels of a certificate's rows after its import or annotation changed. */
export async function refreshAnnotations(x: SqlExecutor, id: string): Promise<void> {
  const annotation = await annotationOf(x, id);
  const rows = await x.all('reading listed certificates', 'SELECT origin, ref FROM inventory_listing WHERE id = ?', [
    id,
  ]);
  for (const r of rows) {
    let base = { owner: '', labels: {} as Record<string, string> };
    if (r['origin'] === 'external') {
      const own = await x.get(
        'reading an inventory certificate',
        'SELECT owner, labels FROM inventory_certificates WHERE fingerprint = ?',
        [r['ref'] as string],
      );
      if (own) base = { owner: own['owner'] as string, labels: JSON.parse(own['labels'] as string) };
    }
    const { owner, labels } = effective(base, annotation);
    await x.run(
      'listing certificate labels',
      'UPDATE inventory_listing SET owner = ?, labels = ? WHERE origin = ? AND ref = ?',
      [owner, labels, r['origin'] as string, r['ref'] as string],
    );
  }
}

/** Copies a CA certificate's recorded status and renewal into its row, then settles its group. */
export async function syncCaCertificate(x: SqlExecutor, serial: string): Promise<void> {
  const row = await x.get('reading a certificate', 'SELECT status, superseded_by FROM certificates WHERE serial = ?', [
    serial,
  ]);
  if (!row) return;
  await x.run(
    `listing the status of certificate ${serial}`,
    "UPDATE inventory_listing SET recorded_status = ?, superseded_by = ? WHERE origin = 'ca' AND ref = ?",
    [row['status'] as string, (row['superseded_by'] as string | null) ?? null, serial],
  );
  await settle(x, [{ origin: 'ca', ref: serial }]);
}

/** Forgets an external certificate's row and settles what is left of its group. */
export async function removeListing(x: SqlExecutor, fingerprint: string): Promise<void> {
  const row = await x.get(
    'reading a listed certificate',
    "DELETE FROM inventory_listing WHERE origin = 'external' AND ref = ? RETURNING succession",
    [fingerprint],
  );
  if (row) await settleGroups(x, [row['succession'] as string]);
}

/**
 * Settles the rows named and, for all but SVIDs (whose successor is only their recorded renewal), every row of their
 * succession groups: a member added, revoked or removed can change its siblings' status.
 */
export async function settle(
  x: SqlExecutor,
  keys: readonly { readonly origin: ListingOrigin; readonly ref: string }[],
): Promise<void> {
  const groups = new Set<string>();
  for (const k of keys) {
    const row = await x.get(
      'settling a listed certificate',
      'SELECT kind, succession FROM inventory_listing WHERE origin = ? AND ref = ?',
      [k.origin, k.ref],
    );
    if (!row) continue;
    if (row['kind'] !== 'svid') {
      groups.add(row['succession'] as string);
      continue;
    }
    await x.run(
      'settling a listed certificate',
      `UPDATE inventory_listing SET settled = CASE WHEN recorded_status = 'revoked' THEN 'revoked'
      WHEN superseded_by IS NOT NULL THEN 'superseded' ELSE 'live' END WHERE origin = ? AND ref = ?`,
      [k.origin, k.ref],
    );
  }
  await settleGroups(x, [...groups]);
}

async function settleGroups(x: SqlExecutor, successions: readonly string[]): Promise<void> {
  for (const succession of successions) {
    const members = await x.all(
      'settling certificates of one name',
      `SELECT origin, ref, id, kind, recorded_status, superseded_by, not_before, not_after, settled
      FROM inventory_listing WHERE succession = ? ORDER BY not_after, id, origin, ref`,
      [succession],
    );
    const settled = settleGroup(
      members.map((m) => ({
        id: m['id'] as string,
        kind: m['kind'] as string,
        recordedStatus: m['recorded_status'] as CertificateStatus,
        supersededBy: (m['superseded_by'] as string | null) ?? null,
        notBefore: Number(m['not_before']),
        notAfter: Number(m['not_after']),
      })),
    );
    for (const [i, m] of members.entries()) {
      if (m['settled'] === settled[i]) continue;
      await x.run(
        'settling a listed certificate',
        'UPDATE inventory_listing SET settled = ? WHERE origin = ? AND ref = ?',
        [settled[i] as SettledStatus, m['origin'] as string, m['ref'] as string],
      );
    }
  }
}

const SORT_COLUMNS: Readonly<Record<InventorySort, string>> = {
  notAfter: 'not_after',
  name: 'name',
  source: 'source',
  status: 'status',
  kind: 'kind',
};

/** The WHERE clause of a query, its parameters after the status time. */
function filterOf(q: InventoryListingQuery, dialect: SqlDialect): { where: string; args: SqlValue[] } {
  const clauses: string[] = [];
  const args: SqlValue[] = [];
  const add = (clause: string, ...values: SqlValue[]) => {
    clauses.push(clause);
    args.push(...values);
  };
  if (q.source) add('source = ?', q.source);
  if (q.kind) add('kind = ?', q.kind);
  if (q.owner) add('owner = ?', q.owner);
  if (q.status === 'revoked' || q.status === 'superseded') add('settled = ?', q.status);
  if (q.status === 'active') add("settled = 'live' AND not_after > ?", q.now);
  if (q.status === 'expired') add("settled = 'live' AND not_after <= ?", q.now);
  if (q.status && !['revoked', 'superseded', 'active', 'expired'].includes(q.status)) add('1 = 0');
  // Labels are stored as JSON text; `"k":"v"` with both sides JSON-encoded occurs only as that pair (quotes inside
  // keys and values are escaped), so a substring test matches exactly.
  for (const [k, v] of Object.entries(q.labels ?? {}))
    add(contains(dialect, 'labels'), `${JSON.stringify(k)}:${JSON.stringify(v)}`);
  if (q.spiffeId) add(`(name = ? OR ${contains(dialect, 'uris')})`, q.spiffeId, urisText([q.spiffeId]));
  if (q.text) add(contains(dialect, 'search'), q.text.toLowerCase());
  if (q.ref) add('(id = ? OR serial = ?)', q.ref, q.ref);
  if (q.notAfterAfter !== undefined) add('not_after > ?', q.notAfterAfter);
  if (q.notAfterAtMost !== undefined) add('not_after <= ?', q.notAfterAtMost);
  return { where: clauses.length ? ` WHERE ${clauses.join(' AND ')}` : '', args };
}

function listingRowOf(row: Row): InventoryListingRow {
  const chain = row['chain'];
  return {
    origin: row['origin'] as ListingOrigin,
    ref: row['ref'] as string,
    source: row['source'] as string,
    kind: row['kind'] as string,
    name: row['name'] as string,
    facts: {
      id: row['id'] as string,
      serial: row['serial'] as string,
      subject: row['subject'] as string,
      issuer: row['issuer'] as string,
      notBefore: Number(row['not_before']),
      notAfter: Number(row['not_after']),
      keyAlgorithm: row['key_algorithm'] as string,
      keyBits: Number(row['key_bits']),
      isCa: Number(row['is_ca']) === 1,
      uris: (row['uris'] as string).split('\n').filter((u) => u !== ''),
      dnsNames: (row['dns_names'] as string).split('\n').filter((d) => d !== ''),
    },
    owner: row['owner'] as string,
    labels: JSON.parse(row['labels'] as string) as Record<string, string>,
    recordedStatus: row['recorded_status'] as CertificateStatus,
    supersededBy: (row['superseded_by'] as string | null) ?? null,
    status: row['status'] as InventoryListingRow['status'],
    ...(row['der'] ? { der: new Uint8Array(row['der'] as Uint8Array) } : {}),
    ...(typeof chain === 'string'
      ? { chain: (JSON.parse(chain) as string[]).map((b) => new Uint8Array(Buffer.from(b, 'base64'))) }
      : row['der']
        ? { chain: [] }
        : {}),
  };
}

export async function listPage(
  x: SqlExecutor,
  dialect: SqlDialect,
  q: InventoryListingQuery,
): Promise<{ rows: InventoryListingRow[]; total: number }> {
  const { where, args } = filterOf(q, dialect);
  const counted = await x.get('counting the inventory', `SELECT COUNT(*) AS n FROM inventory_listing${where}`, args);
  const direction = q.descending ? 'DESC' : 'ASC';
  const column = SORT_COLUMNS[q.sort ?? 'notAfter'];
  const order =
    column === 'not_after'
      ? `not_after ${direction}, id, origin, ref`
      : `${column} ${direction}, not_after, id, origin, ref`;
  const page = `SELECT l.*, ${STATUS_SQL} AS status FROM inventory_listing l${where} ORDER BY ${order} LIMIT ? OFFSET ?`;
  const sql = q.withCertificates
    ? `SELECT p.*, c.der AS ca_der, i.der AS external_der, i.chain FROM (${page}) p
      LEFT JOIN certificates c ON p.origin = 'ca' AND c.serial = p.ref
      LEFT JOIN inventory_certificates i ON p.origin = 'external' AND i.fingerprint = p.ref ORDER BY ${order}`
    : page;
  const rows = await x.all('listing the inventory', sql, [q.now, ...args, q.limit, q.offset ?? 0]);
  return {
    rows: rows.map((r) =>
      listingRowOf(q.withCertificates ? { ...r, der: r['ca_der'] ?? r['external_der'] ?? null } : r),
    ),
    total: Number(counted?.['n'] ?? 0),
  };
}

export async function countListing(
  x: SqlExecutor,
  now: number,
): Promise<{ status: string; source: string; count: number }[]> {
  const rows = await x.all(
    'counting the inventory',
    `SELECT status, source, COUNT(*) AS n FROM (SELECT ${STATUS_SQL} AS status, source FROM inventory_listing) s
    GROUP BY status, source ORDER BY status, source`,
    [now],
  );
  return rows.map((r) => ({ status: r['status'] as string, source: r['source'] as string, count: Number(r['n']) }));
}

export async function scanListing(
  x: SqlExecutor,
  now: number,
  after: { readonly origin: ListingOrigin; readonly ref: string } | undefined,
  limit: number,
): Promise<InventoryListingRow[]> {
  const rows = after
    ? await x.all(
        'reading the inventory',
        `SELECT l.*, ${STATUS_SQL} AS status FROM inventory_listing l
        WHERE origin > ? OR (origin = ? AND ref > ?) ORDER BY origin, ref LIMIT ?`,
        [now, after.origin, after.origin, after.ref, limit],
      )
    : await x.all(
        'reading the inventory',
        `SELECT l.*, ${STATUS_SQL} AS status FROM inventory_listing l ORDER BY origin, ref LIMIT ?`,
        [now, limit],
      );
  return rows.map(listingRowOf);
}

export async function countUnlisted(x: SqlExecutor): Promise<number> {
  const row = await x.get(
    'counting unlisted certificates',
    `SELECT (SELECT COUNT(*) FROM certificates) + (SELECT COUNT(*) FROM inventory_certificates)
    - (SELECT COUNT(*) FROM inventory_listing) AS n`,
  );
  return Number(row?.['n'] ?? 0);
}

export async function unlisted(
  x: SqlExecutor,
  limit: number,
  after?: { readonly origin: ListingOrigin; readonly ref: string },
): Promise<UnlistedCertificate[]> {
  const found: UnlistedCertificate[] = [];
  if (after?.origin !== 'external') {
    const ca = await x.all(
      'finding unlisted certificates',
      `SELECT c.serial, c.der, c.kind, c.spiffe_id FROM certificates c WHERE c.serial > ?
      AND NOT EXISTS (SELECT 1 FROM inventory_listing l WHERE l.origin = 'ca' AND l.ref = c.serial)
      ORDER BY c.serial LIMIT ?`,
      [after?.ref ?? '', limit],
    );
    for (const r of ca)
      found.push({
        origin: 'ca',
        ref: r['serial'] as string,
        der: new Uint8Array(r['der'] as Uint8Array),
        source: '',
        kind: r['kind'] as string,
        name: r['spiffe_id'] as string,
      });
    if (found.length >= limit) return found;
  }
  const external = await x.all(
    'finding unlisted certificates',
    `SELECT i.fingerprint, i.der, i.source, i.name FROM inventory_certificates i WHERE i.fingerprint > ?
    AND NOT EXISTS (SELECT 1 FROM inventory_listing l WHERE l.origin = 'external' AND l.ref = i.fingerprint)
    ORDER BY i.fingerprint LIMIT ?`,
    [after?.origin === 'external' ? after.ref : '', limit - found.length],
  );
  for (const r of external)
    found.push({
      origin: 'external',
      ref: r['fingerprint'] as string,
      der: new Uint8Array(r['der'] as Uint8Array),
      source: r['source'] as string,
      kind: '',
      name: r['name'] as string,
    });
  return found;
}
