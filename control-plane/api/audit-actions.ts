import type { sigil } from '../../proto/index.ts';

/** How one Admin RPC appears in the audit log: its action name and the target read from request (and answer). */
export interface AuditSpec {
  readonly action: string;
  /** `response` is absent when the call was refused or failed. Never returns a secret (a join token, a key). */
  readonly target: (request: never, response?: never) => string;
  /** Only refusals of the caller (not an admin, revoked) are recorded: calls that change nothing. */
  readonly readOnly?: boolean;
}

const spec = <Req, Res = unknown>(
  action: string,
  target: (request: Req, response?: Res) => string,
  readOnly = false,
): AuditSpec => ({ action, target: target as AuditSpec['target'], ...(readOnly ? { readOnly } : {}) });
const read = (action: string): AuditSpec => spec(action, () => '', true);

/**
 * Every Admin and Acme RPC by its grpc-js method name. An RPC missing here (added later) is audited as a change under its
 * own name: the log errs on the side of recording.
 */
export const AUDIT_SPECS: Readonly<Record<string, AuditSpec>> = {
  createJoinToken: spec<sigil.v1.CreateJoinTokenRequest, sigil.v1.ICreateJoinTokenResponse>(
    'token.create',
    (q, r) => `${q.spiffeId}${q.prefix ? '/*' : ''}${r?.id ? ` (token ${r.id})` : ''}`,
  ),
  // The id may be the token itself: only the id the control plane answers with is recorded.
  revokeJoinToken: spec<sigil.v1.RevokeJoinTokenRequest, sigil.v1.IJoinTokenInfo>('token.revoke', (_q, r) =>
    r?.id ? `token ${r.id}` : 'token',
  ),
  revoke: spec<sigil.v1.RevokeRequest>('revoke', (q) => (q.serial !== '' ? `serial ${q.serial}` : q.spiffeId)),
  unrevoke: spec<sigil.v1.UnrevokeRequest>('unrevoke', (q) => q.spiffeId),
  applyPolicies: spec<sigil.v1.ApplyPoliciesRequest, sigil.v1.IApplyPoliciesResponse>(
    'policy.apply',
    (q, r) => `${q.source || 'policies'}${r ? ` (version ${r.version})` : ''}`,
  ),
  deletePolicy: spec<sigil.v1.DeletePolicyRequest>('policy.delete', (q) => q.name),
  rotate: spec<sigil.v1.RotateRequest>('rotate', (q) =>
    q.all ? 'all' : q.prefix !== '' ? `${q.prefix}*` : q.spiffeId,
  ),
  rotateCa: spec<sigil.v1.RotateCaRequest>('ca.rotation', (q) => q.step),
  issueSigningCertificate: spec<sigil.v1.IssueSigningCertificateRequest, sigil.v1.IIssueSigningCertificateResponse>(
    'signing.issue',
    (q) => q.profile || 'code-signing',
  ),
  importCertificates: spec<sigil.v1.ImportCertificatesRequest>(
    'certs.import',
    (q) => `${q.source} (${q.batches.length} batch${q.batches.length === 1 ? '' : 'es'})`,
  ),
  labelCertificate: spec<sigil.v1.LabelCertificateRequest>('certs.label', (q) => q.certificate),
  createAdmin: spec<sigil.v1.CreateAdminRequest>('admin.create', (q) => q.name),
  revokeAdmin: spec<sigil.v1.RevokeAdminRequest>('admin.revoke', (q) => q.name),
  // The URL carries a one-time token: only that one was made is recorded.
  createDashboardLogin: spec('dashboard.login-url', () => 'dashboard'),
  applyAcme: spec<sigil.v1.ApplyAcmeRequest>('acme.apply', (q) => q.source || 'acme'),
  renewAcme: spec<sigil.v1.RenewAcmeRequest>('acme.renew', (q) => q.name),
  revokeAcme: spec<sigil.v1.RevokeAcmeRequest>('acme.revoke', (q) => q.name),
  rolloverAcmeAccount: spec<sigil.v1.RolloverAcmeAccountRequest>('acme.rollover', (q) => q.account),
  listAcme: read('acme.list'),
  listJoinTokens: read('token.list'),
  listCertificates: read('certs.list'),
  getCertificate: read('certs.get'),
  listPolicies: read('policy.list'),
  explainPolicy: read('policy.explain'),
  getRotationStatus: read('rotate.status'),
  showCa: read('ca.show'),
  listInventory: read('inventory.list'),
  listAlerts: read('alerts.list'),
  listAudit: read('audit.list'),
  listAdmins: read('admin.list'),
  listSidecars: read('sidecars.list'),
};

/** The action of a call whose request decides it (a dry run changes nothing but is recorded as what it was). */
export function actionOf(method: string, request: unknown): string {
  const base = AUDIT_SPECS[method]?.action ?? method;
  if (method === 'applyPolicies' && (request as sigil.v1.ApplyPoliciesRequest).dryRun) return 'policy.dry-run';
  if (method === 'rotateCa') return `ca.rotation.${(request as sigil.v1.RotateCaRequest).step || 'unknown'}`;
  return base;
}
