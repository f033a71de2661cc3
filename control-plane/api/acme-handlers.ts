import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { AcmeServer, sigil } from '../../proto/index.ts';
import { isAbsolute } from 'node:path';
import type { AcmeCertificateStatus, AcmeService } from '../acme/acme-service.ts';
import type { Store } from '../store/store.ts';
import { requireActiveAdmin, type verifiedAdmin } from './caller.ts';
import { unary, type UnaryEdgeDeps } from './unary.ts';

export interface AcmeHandlerDeps extends UnaryEdgeDeps {
  readonly acme: AcmeService;
  readonly store: Pick<Store, 'getCertificate'>;
  readonly trustDomain: string;
}

/** The status as operators see it: one word for the state, then the facts behind it. */
export function acmeStatusMessage(s: AcmeCertificateStatus): sigil.v1.IAcmeCertificateStatus {
  const { spec, state } = s;
  const current = state.current;
  const status = state.revoked
    ? 'revoked'
    : state.pending
      ? 'staged'
      : state.failures > 0
        ? 'failing'
        : current
          ? 'valid'
          : 'pending';
  return {
    name: spec.name,
    account: spec.account,
    names: [...spec.names],
    challenge: spec.challenge.type,
    installDir: spec.install.dir,
    profile: spec.profile ?? '',
    source: s.source,
    status,
    serial: current?.serial ?? '',
    notBeforeUnixMs: current?.notBefore ?? 0,
    notAfterUnixMs: current?.notAfter ?? 0,
    orderUrl: current?.orderUrl ?? '',
    renewAtUnixMs: s.renewAt ?? 0,
    renewalBasis: s.basis ?? '',
    ariWindowStartUnixMs: state.ari?.window?.start ?? 0,
    ariWindowEndUnixMs: state.ari?.window?.end ?? 0,
    failures: state.failures,
    lastErrorCode: state.lastError?.code ?? '',
    lastError: state.lastError?.message ?? '',
    nextAttemptUnixMs: s.nextAttemptAt,
    accountUrl: s.accountUrl ?? '',
  };
}

/** Admin-only ACME operations; the caller is checked like every Admin call. */
export function acmeHandlers(deps: AcmeHandlerDeps): AcmeServer {
  const guard = (call: Parameters<typeof verifiedAdmin>[0]) => requireActiveAdmin(call, deps.trustDomain, deps.store);
  const one = async (name: string) => {
    const [status] = await deps.acme.status(name);
    if (!status) throw new SigilError(ErrorCode.NOT_FOUND, `no ACME certificate named ${name}`);
    return acmeStatusMessage(status);
  };
  return {
    applyAcme: unary('ApplyAcme', deps, async (request: sigil.v1.ApplyAcmeRequest, call) => {
      await guard(call);
      if (!isAbsolute(request.baseDir)) {
        throw new SigilError(ErrorCode.INVALID_ARGUMENT, 'base_dir must be an absolute directory');
      }
      const declarations = await deps.acme.applyDocument(
        request.document,
        request.source || 'document',
        request.baseDir,
      );
      return { accounts: declarations.accounts.length, certificates: declarations.certificates.length };
    }),
    listAcme: unary('ListAcme', deps, async (request: sigil.v1.ListAcmeRequest, call) => {
      await guard(call);
      const statuses = await deps.acme.status(request.name === '' ? undefined : request.name);
      return { certificates: statuses.map(acmeStatusMessage) };
    }),
    renewAcme: unary('RenewAcme', deps, async (request: sigil.v1.RenewAcmeRequest, call) => {
      await guard(call);
      await deps.acme.renew(request.name, { force: request.force });
      return one(request.name);
    }),
    revokeAcme: unary('RevokeAcme', deps, async (request: sigil.v1.RevokeAcmeRequest, call) => {
      await guard(call);
      await deps.acme.revoke(request.name, request.reason);
      return one(request.name);
    }),
    rolloverAcmeAccount: unary(
      'RolloverAcmeAccount',
      deps,
      async (request: sigil.v1.RolloverAcmeAccountRequest, call) => {
        await guard(call);
        return deps.acme.rollover(request.account);
      },
    ),
  };
}
