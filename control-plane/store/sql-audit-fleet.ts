import type { Row, SqlDatabase, SqlValue } from './sql-database.ts';
import type {
  AdminIdentityRecord,
  AuditFilter,
  AuditRecord,
  AuditResult,
  SidecarContact,
  SidecarContactRecord,
} from './store.ts';

/**
 * The audit log, admin identities and sidecar contacts in SQL both engines speak; SqlStore's methods delegate here
 * so sql-store.ts stays one concern per screen.
 */

const optionalNumber = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function auditOf(row: Row): AuditRecord {
  return {
    entryId: Number(row['entry_id']),
    at: Number(row['at']),
    actor: row['actor'] as string,
    action: row['action'] as string,
    target: row['target'] as string,
    result: row['result'] as AuditResult,
    requestId: row['request_id'] as string,
    detail: row['detail'] as string,
  };
}

function adminIdentityOf(row: Row): AdminIdentityRecord {
  const revokedAt = optionalNumber(row['revoked_at']);
  return {
    name: row['name'] as string,
    spiffeId: row['spiffe_id'] as string,
    serial: row['serial'] as string,
    createdAt: Number(row['created_at']),
    createdBy: row['created_by'] as string,
    ...(revokedAt === null ? {} : { revokedAt, revokedBy: (row['revoked_by'] as string | null) ?? '' }),
  };
}

function sidecarContactOf(row: Row): SidecarContactRecord {
  return {
    instanceId: row['instance_id'] as string,
    spiffeId: row['spiffe_id'] as string,
    sidecarVersion: row['sidecar_version'] as string,
    svidSerial: row['svid_serial'] as string,
    svidNotAfter: Number(row['svid_not_after']),
    firstSeen: Number(row['first_seen']),
    lastTrustFetchAt: optionalNumber(row['last_trust_fetch_at']),
    lastRenewalAt: optionalNumber(row['last_renewal_at']),
    bundleSequence: optionalNumber(row['bundle_sequence']),
    crlNumber: optionalNumber(row['crl_number']),
    policyVersion: optionalNumber(row['policy_version']),
  };
}

export async function appendAudit(db: SqlDatabase, e: Omit<AuditRecord, 'entryId'>): Promise<AuditRecord> {
  return db.transaction('recording an audit entry', async (tx) => {
    // The sequence row lock orders writers across replicas: ids grow in commit order, so a cursor never skips one.
    const row = await tx.get(
      'numbering an audit entry',
      "INSERT INTO sequences (name, value) VALUES ('audit', 1) ON CONFLICT (name) DO UPDATE SET value = sequences.value + 1 RETURNING value",
    );
    const entryId = Number(row?.['value']);
    await tx.run(
      'recording an audit entry',
      'INSERT INTO audit_entries (entry_id, at, actor, action, target, result, request_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [entryId, e.at, e.actor, e.action, e.target, e.result, e.requestId, e.detail],
    );
    return { entryId, ...e };
  });
}

export async function listAudit(db: SqlDatabase, filter: AuditFilter): Promise<AuditRecord[]> {
  const where: string[] = [];
  const args: SqlValue[] = [];
  const add = (clause: string, value: SqlValue | undefined) => {
    if (value === undefined) return;
    where.push(clause);
    args.push(value);
  };
  add('at >= ?', filter.since);
  add('actor = ?', filter.actor);
  add('entry_id > ?', filter.afterId);
  args.push(Math.max(0, Math.floor(filter.limit)));
  const sql = `SELECT * FROM audit_entries${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY entry_id LIMIT ?`;
  return (await db.all('listing the audit log', sql, args)).map(auditOf);
}

export function pruneAudit(db: SqlDatabase, before: number): Promise<number> {
  return db.run('pruning the audit log', 'DELETE FROM audit_entries WHERE at < ?', [before]);
}

export async function insertAdminIdentity(db: SqlDatabase, r: AdminIdentityRecord): Promise<boolean> {
  const row = await db.get(
    `recording admin identity ${r.name}`,
    `INSERT INTO admin_identities (name, spiffe_id, serial, created_at, created_by, revoked_at, revoked_by)
    VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING name`,
    [r.name, r.spiffeId, r.serial, r.createdAt, r.createdBy, r.revokedAt ?? null, r.revokedBy ?? null],
  );
  return row !== undefined;
}

export async function getAdminIdentity(db: SqlDatabase, name: string): Promise<AdminIdentityRecord | undefined> {
  const row = await db.get('reading an admin identity', 'SELECT * FROM admin_identities WHERE name = ?', [name]);
  return row ? adminIdentityOf(row) : undefined;
}

export async function listAdminIdentities(db: SqlDatabase): Promise<AdminIdentityRecord[]> {
  return (await db.all('listing admin identities', 'SELECT * FROM admin_identities ORDER BY name')).map(
    adminIdentityOf,
  );
}

export async function markAdminIdentityRevoked(
  db: SqlDatabase,
  name: string,
  at: number,
  by: string,
): Promise<AdminIdentityRecord | undefined> {
  await db.run(
    `revoking admin identity ${name}`,
    'UPDATE admin_identities SET revoked_at = ?, revoked_by = ? WHERE name = ? AND revoked_at IS NULL',
    [at, by, name],
  );
  return getAdminIdentity(db, name);
}

/** One statement: the upsert keeps what this contact does not say (COALESCE with the stored value). */
export async function recordSidecarContact(db: SqlDatabase, c: SidecarContact): Promise<void> {
  const fetchAt = c.kind === 'trust-fetch' ? c.at : null;
  const renewAt = c.kind === 'renewal' ? c.at : null;
  await db.run(
    `recording contact from sidecar ${c.instanceId}`,
    `INSERT INTO sidecar_contacts (instance_id, spiffe_id, sidecar_version, svid_serial, svid_not_after, first_seen,
    last_trust_fetch_at, last_renewal_at, bundle_sequence, crl_number, policy_version)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (instance_id) DO UPDATE SET spiffe_id = excluded.spiffe_id,
      sidecar_version = CASE WHEN excluded.sidecar_version = '' THEN sidecar_contacts.sidecar_version
        ELSE excluded.sidecar_version END,
      svid_serial = excluded.svid_serial, svid_not_after = excluded.svid_not_after,
      last_trust_fetch_at = COALESCE(excluded.last_trust_fetch_at, sidecar_contacts.last_trust_fetch_at),
      last_renewal_at = COALESCE(excluded.last_renewal_at, sidecar_contacts.last_renewal_at),
      bundle_sequence = COALESCE(excluded.bundle_sequence, sidecar_contacts.bundle_sequence),
      crl_number = COALESCE(excluded.crl_number, sidecar_contacts.crl_number),
      policy_version = COALESCE(excluded.policy_version, sidecar_contacts.policy_version)`,
    [
      c.instanceId,
      c.spiffeId,
      c.sidecarVersion ?? '',
      c.svidSerial,
      c.svidNotAfter,
      c.at,
      fetchAt,
      renewAt,
      c.bundleSequence ?? null,
      c.crlNumber ?? null,
      c.policyVersion ?? null,
    ],
  );
}

export async function findSidecarBySerial(
  db: SqlDatabase,
  svidSerial: string,
): Promise<SidecarContactRecord | undefined> {
  const row = await db.get(
    'looking a sidecar up by serial',
    'SELECT * FROM sidecar_contacts WHERE svid_serial = ? ORDER BY instance_id LIMIT 1',
    [svidSerial],
  );
  return row ? sidecarContactOf(row) : undefined;
}

export async function listSidecarContacts(db: SqlDatabase): Promise<SidecarContactRecord[]> {
  return (
    await db.all('listing sidecar contacts', 'SELECT * FROM sidecar_contacts ORDER BY spiffe_id, instance_id')
  ).map(sidecarContactOf);
}

export function pruneSidecarContacts(db: SqlDatabase, before: number): Promise<number> {
  return db.run(
    'pruning sidecar contacts',
    `DELETE FROM sidecar_contacts WHERE COALESCE(last_trust_fetch_at, first_seen) < ?
    AND COALESCE(last_renewal_at, first_seen) < ?`,
    [before, before],
  );
}
