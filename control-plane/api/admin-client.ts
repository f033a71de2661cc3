import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkControlPlaneCertificate, CONTROL_PLANE_CHANNEL_OPTIONS } from '../../common/control-plane-identity.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { callUnary } from '../../common/wire-errors.ts';
import { AdminClient, type sigil } from '../../proto/index.ts';

export interface AdminConnection {
  readonly address: string;
  /** A directory with svid.pem (admin SVID + intermediate), key.pem and bundle.pem, as `ca init` writes to DIR/admin. */
  readonly credentialsDir: string;
  readonly timeoutMs?: number;
}

function readCredential(dir: string, name: string): Buffer {
  try {
    return readFileSync(join(dir, name));
  } catch (err) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `cannot read admin credential ${join(dir, name)} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'}): pass --data-dir of a CA made by sigil ca init, or --admin-credentials DIR`,
    );
  }
}

/** The Admin API over mTLS with an admin SVID, as promises. */
export class AdminApi {
  readonly #client: AdminClient;
  readonly #timeoutMs: number;

  constructor(connection: AdminConnection) {
    const creds: ChannelCredentials = credentials.createSsl(
      readCredential(connection.credentialsDir, 'bundle.pem'),
      readCredential(connection.credentialsDir, 'key.pem'),
      readCredential(connection.credentialsDir, 'svid.pem'),
      { checkServerIdentity: (_host, cert) => checkControlPlaneCertificate(cert.raw, undefined) },
    );
    this.#client = new AdminClient(connection.address, creds, CONTROL_PLANE_CHANNEL_OPTIONS);
    this.#timeoutMs = connection.timeoutMs ?? 10_000;
  }

  #options() {
    return { deadline: Date.now() + this.#timeoutMs };
  }

  createJoinToken(request: sigil.v1.ICreateJoinTokenRequest): Promise<sigil.v1.CreateJoinTokenResponse> {
    return callUnary('creating a join token', (cb) => this.#client.createJoinToken(request, this.#options(), cb));
  }

  listCertificates(request: sigil.v1.IListCertificatesRequest): Promise<sigil.v1.ListCertificatesResponse> {
    return callUnary('listing certificates', (cb) => this.#client.listCertificates(request, this.#options(), cb));
  }

  getCertificate(serial: string): Promise<sigil.v1.Certificate> {
    return callUnary(`reading certificate ${serial}`, (cb) =>
      this.#client.getCertificate({ serial }, this.#options(), cb),
    );
  }

  /** Revokes one certificate (serial) or an identity (spiffeId); see RevokeRequest in admin.proto. */
  revoke(request: sigil.v1.IRevokeRequest): Promise<sigil.v1.RevokeResponse> {
    const what = request.serial ? `certificate ${request.serial}` : `identity ${request.spiffeId ?? ''}`;
    return callUnary(`revoking ${what}`, (cb) => this.#client.revoke(request, this.#options(), cb));
  }

  unrevoke(spiffeId: string): Promise<sigil.v1.UnrevokeResponse> {
    return callUnary(`unrevoking identity ${spiffeId}`, (cb) =>
      this.#client.unrevoke({ spiffeId }, this.#options(), cb),
    );
  }

  applyPolicies(request: sigil.v1.IApplyPoliciesRequest): Promise<sigil.v1.ApplyPoliciesResponse> {
    return callUnary('applying policies', (cb) => this.#client.applyPolicies(request, this.#options(), cb));
  }

  listPolicies(): Promise<sigil.v1.PolicySet> {
    return callUnary('listing policies', (cb) => this.#client.listPolicies({}, this.#options(), cb));
  }

  deletePolicy(name: string): Promise<sigil.v1.ApplyPoliciesResponse> {
    return callUnary(`deleting policy ${name}`, (cb) => this.#client.deletePolicy({ name }, this.#options(), cb));
  }

  explainPolicy(request: sigil.v1.IExplainPolicyRequest): Promise<sigil.v1.PolicyDecision> {
    return callUnary('explaining a policy decision', (cb) => this.#client.explainPolicy(request, this.#options(), cb));
  }

  /** Orders the targeted workloads to renew with new keys inside the window. */
  rotate(request: sigil.v1.IRotateRequest): Promise<sigil.v1.RotationStatus> {
    return callUnary('ordering a rotation', (cb) => this.#client.rotate(request, this.#options(), cb));
  }

  rotationStatus(orderId = ''): Promise<sigil.v1.RotationStatus> {
    return callUnary('reading rotation progress', (cb) =>
      this.#client.getRotationStatus({ orderId }, this.#options(), cb),
    );
  }

  showCa(): Promise<sigil.v1.CaStatus> {
    return callUnary('reading the CA status', (cb) => this.#client.showCa({}, this.#options(), cb));
  }

  /** One step of staged CA rotation: prepare, activate or retire. */
  rotateCa(request: sigil.v1.IRotateCaRequest): Promise<sigil.v1.RotateCaResponse> {
    return callUnary(`CA rotation step ${request.step ?? ''}`, (cb) =>
      this.#client.rotateCa(request, this.#options(), cb),
    );
  }

  /** A code-signing or TSA certificate for a CSR (see IssueSigningCertificateRequest in admin.proto). */
  issueSigningCertificate(
    request: sigil.v1.IIssueSigningCertificateRequest,
  ): Promise<sigil.v1.IssueSigningCertificateResponse> {
    return callUnary(`issuing a ${request.profile || 'code-signing'} certificate`, (cb) =>
      this.#client.issueSigningCertificate(request, this.#options(), cb),
    );
  }

  close(): void {
    this.#client.close();
  }
}
