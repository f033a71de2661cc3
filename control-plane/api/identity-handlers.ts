import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { sigil } from '../../proto/index.ts';
import type { IdentityServer } from '../../proto/index.ts';
import type { IdentityIssuer, IssuedSvid } from '../issuance/identity-issuer.ts';
import type { X509PopAttestor } from '../issuance/x509pop.ts';
import { verifiedCaller } from './caller.ts';
import type { ServerUnaryCall } from '@grpc/grpc-js';
import { trustPage } from './trust-pages.ts';
import type { SourceRateLimit } from './source-rate-limit.ts';
import { unary, type UnaryEdgeDeps } from './unary.ts';
import type { SidecarContacts } from '../fleet/sidecar-contacts.ts';
import { reportOf } from './sidecar-report.ts';

/** The trust state served by FetchTrust and attached to every issued SVID. */
export interface TrustStateSource {
  trustState(): sigil.v1.ITrustState;
}

/** Signs JWT-SVIDs for a verified caller (control-plane/jwt/). */
export interface JwtSvidMinter {
  mint(spiffeId: string, audience: readonly string[]): Promise<{ token: string; expiresAt: number }>;
}

export interface IdentityHandlerDeps extends UnaryEdgeDeps {
  readonly issuer: IdentityIssuer;
  /** Absent: MintJwtSvid is refused as unavailable (a control plane without a JWT key). */
  readonly jwt?: JwtSvidMinter;
  readonly trust: TrustStateSource;
  readonly trustDomain: string;
  /** Absent: x509pop is refused as unavailable (no attestation.x509pop in cp.yaml). */
  readonly x509pop?: X509PopAttestor | undefined;
  /** Per-source budget for Attest and the x509pop calls (token guessing, nonce flooding); absent: unlimited. */
  readonly attestLimit?: SourceRateLimit;
  /** Records each sidecar's contacts for the fleet view; absent: not recorded. Never fails a call. */
  readonly contacts?: Pick<SidecarContacts, 'record'>;
}

export function identityHandlers(deps: IdentityHandlerDeps): IdentityServer {
  const respond = (issued: IssuedSvid): sigil.v1.ISvidResponse => ({
    svidChain: issued.chain,
    // The first page only (bounded size); the sidecar fetches the rest of large state with FetchTrust.
    trust: trustPage(deps.trust.trustState(), ''),
  });
  /** A new SVID was handed out (attest or renew): the sidecar holds it from now on. */
  const issued = async (
    svid: IssuedSvid,
    report: sigil.v1.ISidecarReport | null | undefined,
    previous?: { spiffeId: string; serial: string },
  ) => {
    if (!deps.contacts) return;
    const spiffeId = previous?.spiffeId ?? svid.spiffeId;
    const sidecar = reportOf(report);
    await deps.contacts.record({
      kind: 'renewal',
      spiffeId,
      svidSerial: svid.leaf.serial,
      svidNotAfter: svid.leaf.notAfter,
      ...(previous ? { previousSerial: previous.serial } : {}),
      ...(sidecar ? { report: sidecar } : {}),
    });
  };
  const x509pop = (): X509PopAttestor => {
    if (!deps.x509pop)
      throw new SigilError(
        ErrorCode.UNAVAILABLE,
        'x509pop attestation is off on this control plane: configure attestation.x509pop (caBundle, spiffeIdTemplate) in cp.yaml',
      );
    return deps.x509pop;
  };
  return {
    attest: unary('Attest', deps, async (request: sigil.v1.AttestRequest, call) => {
      deps.attestLimit?.take(call.getPeer(), 'Attest');
      const svid = await deps.issuer.attest(request.joinToken, request.csr);
      await issued(svid, request.report);
      return respond(svid);
    }),
    getX509PopChallenge: unary('GetX509PopChallenge', deps, async (request: sigil.v1.X509PopChallengeRequest, call) => {
      deps.attestLimit?.take(call.getPeer(), 'GetX509PopChallenge');
      const challenge = x509pop().challenge(request.certChain);
      return { nonce: challenge.nonce, spiffeId: challenge.spiffeId, expiresAtUnixMs: challenge.expiresAt };
    }),
    attestX509Pop: unary('AttestX509Pop', deps, async (request: sigil.v1.AttestX509PopRequest, call) => {
      deps.attestLimit?.take(call.getPeer(), 'AttestX509Pop');
      const verified = x509pop().verify({
        nonce: request.nonce,
        chainDer: request.certChain,
        csrDer: request.csr,
        signature: request.signature,
      });
      const svid = await deps.issuer.attestX509Pop(verified.spiffeId, request.csr);
      await issued(svid, request.report);
      return respond(svid);
    }),
    renew: unary('Renew', deps, async (request: sigil.v1.RenewRequest, call) => {
      const caller = verifiedCaller(call, deps.trustDomain);
      const svid = await deps.issuer.renew(caller, request.csr);
      await issued(svid, request.report, { spiffeId: caller.spiffeId.uri, serial: caller.serial });
      return respond(svid);
    }),
    fetchTrust: unary('FetchTrust', deps, async (request: sigil.v1.FetchTrustRequest, call) => {
      const full = deps.trust.trustState();
      // The bundle is public (it is served over HTTP too); revocations, policies and rotation orders describe the
      // mesh and are for its members only: a caller without a verified SVID of this trust domain gets the bundle.
      const caller = svidCaller(call, deps.trustDomain);
      if (!caller) return bundleOnly(full);
      const page = trustPage(full, request.pageToken ?? '');
      // One contact per fetch: its first page. The serial is the SVID the caller presented (and still holds).
      if (deps.contacts && (request.pageToken ?? '') === '') {
        const sidecar = reportOf(request.report);
        await deps.contacts.record({
          kind: 'trust-fetch',
          spiffeId: caller.spiffeId.uri,
          svidSerial: caller.serial,
          svidNotAfter: caller.notAfter ?? 0,
          served: {
            bundleSequence: Number(full.bundleSequence ?? 0),
            crlNumber: Number(full.revocation?.crlNumber ?? 0),
            policyVersion: Number(full.policies?.version ?? 0),
          },
          ...(sidecar ? { report: sidecar } : {}),
        });
      }
      return page;
    }),
    issueWorkloadSvid: unary('IssueWorkloadSvid', deps, async (request: sigil.v1.IssueWorkloadSvidRequest, call) =>
      respond(
        await deps.issuer.issueWorkloadSvid(
          verifiedCaller(call, deps.trustDomain),
          request.csr,
          request.replacesSerial,
        ),
      ),
    ),
    mintJwtSvid: unary('MintJwtSvid', deps, async (request: sigil.v1.MintJwtSvidRequest, call) => {
      const caller = verifiedCaller(call, deps.trustDomain);
      await deps.issuer.requireLiveSvid(caller);
      if (!deps.jwt)
        throw new SigilError(ErrorCode.UNAVAILABLE, 'this control plane has no JWT signing key: JWT-SVIDs are off');
      const minted = await deps.jwt.mint(caller.spiffeId.uri, request.audience);
      return { token: minted.token, expiresAtUnixMs: minted.expiresAt };
    }),
  };
}

function svidCaller(call: ServerUnaryCall<unknown, unknown>, trustDomain: string) {
  try {
    return verifiedCaller(call, trustDomain);
  } catch {
    // No certificate, one that did not verify, or one that is no SVID of this trust domain.
    return undefined;
  }
}

/** The trust bundle alone: what anyone may know (the same as /bundle.pem and /bundle.json serve). */
function bundleOnly(full: sigil.v1.ITrustState): sigil.v1.ITrustState {
  return {
    trustDomain: full.trustDomain ?? '',
    roots: full.roots ?? [],
    bundleSequence: full.bundleSequence ?? 0,
    refreshHintSeconds: full.refreshHintSeconds ?? 0,
    ...(full.spiffeBundle ? { spiffeBundle: full.spiffeBundle } : {}),
    nextPageToken: '',
  };
}
