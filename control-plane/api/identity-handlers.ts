import type { sigil } from '../../proto/index.ts';
import type { IdentityServer } from '../../proto/index.ts';
import type { IdentityIssuer, IssuedSvid } from '../issuance/identity-issuer.ts';
import { verifiedCaller } from './caller.ts';
import { trustPage } from './trust-pages.ts';
import type { SourceRateLimit } from './source-rate-limit.ts';
import { unary, type UnaryEdgeDeps } from './unary.ts';

/** The trust state served by FetchTrust and attached to every issued SVID. */
export interface TrustStateSource {
  trustState(): sigil.v1.ITrustState;
}

export interface IdentityHandlerDeps extends UnaryEdgeDeps {
  readonly issuer: IdentityIssuer;
  readonly trust: TrustStateSource;
  readonly trustDomain: string;
  /** Per-source budget for Attest (token guessing); absent: unlimited. */
  readonly attestLimit?: SourceRateLimit;
}

export function identityHandlers(deps: IdentityHandlerDeps): IdentityServer {
  const respond = (issued: IssuedSvid): sigil.v1.ISvidResponse => ({
    svidChain: issued.chain,
    // The first page only (bounded size); the sidecar fetches the rest of large state with FetchTrust.
    trust: trustPage(deps.trust.trustState(), ''),
  });
  return {
    attest: unary('Attest', deps, async (request: sigil.v1.AttestRequest, call) => {
      deps.attestLimit?.take(call.getPeer(), 'Attest');
      return respond(await deps.issuer.attest(request.joinToken, request.csr));
    }),
    renew: unary('Renew', deps, async (request: sigil.v1.RenewRequest, call) =>
      respond(await deps.issuer.renew(verifiedCaller(call, deps.trustDomain), request.csr)),
    ),
    fetchTrust: unary('FetchTrust', deps, async (request: sigil.v1.FetchTrustRequest) =>
      trustPage(deps.trust.trustState(), request.pageToken ?? ''),
    ),
  };
}
