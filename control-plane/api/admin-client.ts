import { refuseOpenKeyFileSync } from '../file-modes.ts';
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { AddressFailover, parseAddressList } from '../../common/address-failover.ts';
import { systemClock } from '../../common/clock.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkControlPlaneCertificate, CONTROL_PLANE_CHANNEL_OPTIONS } from '../../common/control-plane-identity.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { callUnary, type UnaryCallback } from '../../common/wire-errors.ts';
import { AcmeClient, AdminClient, type sigil } from '../../proto/index.ts';

export interface AdminConnection {
  /** One host:port, a comma-separated list or a list: every replica; a call that finds one UNAVAILABLE tries the next. */
  readonly address: string | readonly string[];
  /** A directory with svid.pem (admin SVID + intermediate), key.pem and bundle.pem, as `ca init` writes to DIR/admin. */
  readonly credentialsDir: string;
  readonly timeoutMs?: number;
  /** Where failover starts among several replicas; default Math.random. */
  readonly random?: () => number;
}

function readCredential(dir: string, name: string): Buffer {
  if (name === 'key.pem') refuseOpenKeyFileSync(join(dir, name));
  try {
    return readFileSync(join(dir, name));
  } catch (err) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `cannot read admin credential ${join(dir, name)} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'}): pass --data-dir of a CA made by sigil ca init, or --admin-credentials DIR`,
    );
  }
}

const ACME_ORDER_TIMEOUT_MS = 300_000;

/** The Admin API over mTLS with an admin SVID, as promises; with several replicas, failing over on UNAVAILABLE. */
export class AdminApi {
  readonly #creds: ChannelCredentials;
  readonly #clients = new Map<string, AdminClient>();
  readonly #acmeClients = new Map<string, AcmeClient>();
  readonly #failover: AddressFailover;
  readonly #timeoutMs: number;

  constructor(connection: AdminConnection) {
    this.#creds = credentials.createSsl(
      readCredential(connection.credentialsDir, 'bundle.pem'),
      readCredential(connection.credentialsDir, 'key.pem'),
      readCredential(connection.credentialsDir, 'svid.pem'),
      { checkServerIdentity: (_host, cert) => checkControlPlaneCertificate(cert.raw, undefined) },
    );
    this.#failover = new AddressFailover({
      addresses: parseAddressList(connection.address, 'the control plane address'),
      random: connection.random ?? Math.random,
      clock: systemClock,
    });
    this.#timeoutMs = connection.timeoutMs ?? 10_000;
  }

  #options() {
    return { deadline: Date.now() + this.#timeoutMs };
  }

  /** One client per replica, kept for the life of this object (a CLI command makes a few calls). */
  #client(address: string): AdminClient {
    let client = this.#clients.get(address);
    if (!client) {
      client = new AdminClient(address, this.#creds, CONTROL_PLANE_CHANNEL_OPTIONS);
      this.#clients.set(address, client);
    }
    return client;
  }

  #call<Res>(context: string, invoke: (client: AdminClient, cb: UnaryCallback<Res>) => unknown): Promise<Res> {
    return this.#failover.call(context, (address) =>
      callUnary<Res>(context, (cb) => invoke(this.#client(address), cb)),
    );
  }

  #acmeCall<Res>(
    context: string,
    timeoutMs: number,
    invoke: (client: AcmeClient, options: { deadline: number }, cb: UnaryCallback<Res>) => unknown,
  ): Promise<Res> {
    return this.#failover.call(context, (address) =>
      callUnary<Res>(context, (cb) => {
        let client = this.#acmeClients.get(address);
        if (!client) {
          client = new AcmeClient(address, this.#creds, CONTROL_PLANE_CHANNEL_OPTIONS);
          this.#acmeClients.set(address, client);
        }
        return invoke(client, { deadline: Date.now() + timeoutMs }, cb);
      }),
    );
  }

  applyAcme(request: sigil.v1.IApplyAcmeRequest): Promise<sigil.v1.ApplyAcmeResponse> {
    return this.#acmeCall('applying ACME declarations', this.#timeoutMs, (c, o, cb) => c.applyAcme(request, o, cb));
  }

  listAcme(name = ''): Promise<sigil.v1.ListAcmeResponse> {
    return this.#acmeCall('listing ACME certificates', this.#timeoutMs, (c, o, cb) => c.listAcme({ name }, o, cb));
  }

  /** Waits for the whole order (validation included): up to five minutes. */
  renewAcme(name: string, force: boolean): Promise<sigil.v1.AcmeCertificateStatus> {
    return this.#acmeCall(`renewing ${name}`, ACME_ORDER_TIMEOUT_MS, (c, o, cb) => c.renewAcme({ name, force }, o, cb));
  }

  revokeAcme(name: string, reason: string): Promise<sigil.v1.AcmeCertificateStatus> {
    return this.#acmeCall(`revoking ${name}`, ACME_ORDER_TIMEOUT_MS, (c, o, cb) =>
      c.revokeAcme({ name, reason }, o, cb),
    );
  }

  rolloverAcmeAccount(account: string): Promise<sigil.v1.RolloverAcmeAccountResponse> {
    return this.#acmeCall(`rolling over the key of ACME account ${account}`, ACME_ORDER_TIMEOUT_MS, (c, o, cb) =>
      c.rolloverAcmeAccount({ account }, o, cb),
    );
  }

  listJoinTokens(): Promise<sigil.v1.ListJoinTokensResponse> {
    return this.#call('listing join tokens', (client, cb) => client.listJoinTokens({}, this.#options(), cb));
  }

  revokeJoinToken(id: string): Promise<sigil.v1.JoinTokenInfo> {
    return this.#call('revoking a join token', (client, cb) => client.revokeJoinToken({ id }, this.#options(), cb));
  }

  createJoinToken(request: sigil.v1.ICreateJoinTokenRequest): Promise<sigil.v1.CreateJoinTokenResponse> {
    return this.#call('creating a join token', (client, cb) => client.createJoinToken(request, this.#options(), cb));
  }

  listCertificates(request: sigil.v1.IListCertificatesRequest): Promise<sigil.v1.ListCertificatesResponse> {
    return this.#call('listing certificates', (client, cb) => client.listCertificates(request, this.#options(), cb));
  }

  listInventory(request: sigil.v1.IListInventoryRequest): Promise<sigil.v1.ListInventoryResponse> {
    return this.#call('listing the inventory', (client, cb) => client.listInventory(request, this.#options(), cb));
  }

  importCertificates(request: sigil.v1.IImportCertificatesRequest): Promise<sigil.v1.ImportCertificatesResponse> {
    return this.#call('recording certificates', (client, cb) =>
      client.importCertificates(request, this.#options(), cb),
    );
  }

  labelCertificate(request: sigil.v1.ILabelCertificateRequest): Promise<sigil.v1.InventoryEntry> {
    return this.#call(`labelling certificate ${request.certificate}`, (client, cb) =>
      client.labelCertificate(request, this.#options(), cb),
    );
  }

  listAudit(request: sigil.v1.IListAuditRequest): Promise<sigil.v1.ListAuditResponse> {
    return this.#call('reading the audit log', (client, cb) => client.listAudit(request, this.#options(), cb));
  }

  createAdmin(name: string, csr: Uint8Array): Promise<sigil.v1.CreateAdminResponse> {
    return this.#call(`creating admin ${name}`, (client, cb) => client.createAdmin({ name, csr }, this.#options(), cb));
  }

  listAdmins(): Promise<sigil.v1.ListAdminsResponse> {
    return this.#call('listing admins', (client, cb) => client.listAdmins({}, this.#options(), cb));
  }

  revokeAdmin(name: string): Promise<sigil.v1.AdminIdentity> {
    return this.#call(`revoking admin ${name}`, (client, cb) => client.revokeAdmin({ name }, this.#options(), cb));
  }

  listSidecars(staleAfterMs: number): Promise<sigil.v1.ListSidecarsResponse> {
    return this.#call('listing sidecars', (client, cb) => client.listSidecars({ staleAfterMs }, this.#options(), cb));
  }

  listAlerts(request: sigil.v1.IListAlertsRequest): Promise<sigil.v1.ListAlertsResponse> {
    return this.#call('listing alerts', (client, cb) => client.listAlerts(request, this.#options(), cb));
  }

  getCertificate(serial: string): Promise<sigil.v1.Certificate> {
    return this.#call(`reading certificate ${serial}`, (client, cb) =>
      client.getCertificate({ serial }, this.#options(), cb),
    );
  }

  /** Revokes one certificate (serial) or an identity (spiffeId); see RevokeRequest in admin.proto. */
  revoke(request: sigil.v1.IRevokeRequest): Promise<sigil.v1.RevokeResponse> {
    const what = request.serial ? `certificate ${request.serial}` : `identity ${request.spiffeId ?? ''}`;
    return this.#call(`revoking ${what}`, (client, cb) => client.revoke(request, this.#options(), cb));
  }

  unrevoke(spiffeId: string): Promise<sigil.v1.UnrevokeResponse> {
    return this.#call(`unrevoking identity ${spiffeId}`, (client, cb) =>
      client.unrevoke({ spiffeId }, this.#options(), cb),
    );
  }

  applyPolicies(request: sigil.v1.IApplyPoliciesRequest): Promise<sigil.v1.ApplyPoliciesResponse> {
    return this.#call('applying policies', (client, cb) => client.applyPolicies(request, this.#options(), cb));
  }

  listPolicies(): Promise<sigil.v1.PolicySet> {
    return this.#call('listing policies', (client, cb) => client.listPolicies({}, this.#options(), cb));
  }

  deletePolicy(name: string): Promise<sigil.v1.ApplyPoliciesResponse> {
    return this.#call(`deleting policy ${name}`, (client, cb) => client.deletePolicy({ name }, this.#options(), cb));
  }

  explainPolicy(request: sigil.v1.IExplainPolicyRequest): Promise<sigil.v1.PolicyDecision> {
    return this.#call('explaining a policy decision', (client, cb) =>
      client.explainPolicy(request, this.#options(), cb),
    );
  }

  /** A one-time dashboard login URL for the admin this connection authenticates as. */
  createDashboardLogin(): Promise<sigil.v1.DashboardLogin> {
    return this.#call('creating a dashboard login', (client, cb) =>
      client.createDashboardLogin({}, this.#options(), cb),
    );
  }

  /** Orders the targeted workloads to renew with new keys inside the window. */
  rotate(request: sigil.v1.IRotateRequest): Promise<sigil.v1.RotationStatus> {
    return this.#call('ordering a rotation', (client, cb) => client.rotate(request, this.#options(), cb));
  }

  rotationStatus(orderId = ''): Promise<sigil.v1.RotationStatus> {
    return this.#call('reading rotation progress', (client, cb) =>
      client.getRotationStatus({ orderId }, this.#options(), cb),
    );
  }

  showCa(): Promise<sigil.v1.CaStatus> {
    return this.#call('reading the CA status', (client, cb) => client.showCa({}, this.#options(), cb));
  }

  /** One step of staged CA rotation: prepare, activate or retire. */
  rotateCa(request: sigil.v1.IRotateCaRequest): Promise<sigil.v1.RotateCaResponse> {
    return this.#call(`CA rotation step ${request.step ?? ''}`, (client, cb) =>
      client.rotateCa(request, this.#options(), cb),
    );
  }

  /** A code-signing or TSA certificate for a CSR (see IssueSigningCertificateRequest in admin.proto). */
  issueSigningCertificate(
    request: sigil.v1.IIssueSigningCertificateRequest,
  ): Promise<sigil.v1.IssueSigningCertificateResponse> {
    return this.#call(`issuing a ${request.profile || 'code-signing'} certificate`, (client, cb) =>
      client.issueSigningCertificate(request, this.#options(), cb),
    );
  }

  close(): void {
    for (const client of this.#clients.values()) client.close();
    for (const client of this.#acmeClients.values()) client.close();
    this.#clients.clear();
    this.#acmeClients.clear();
  }
}
