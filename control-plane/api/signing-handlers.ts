import type { ServerUnaryCall } from '@grpc/grpc-js';
import type { AdminServer, sigil } from '../../proto/index.ts';
import { parseSigningProfile } from '../ca/signing-templates.ts';
import type { SigningCertificateIssuer } from '../signing/signing-certificates.ts';
import { unary, type UnaryEdgeDeps } from './unary.ts';

export interface SigningHandlerDeps extends UnaryEdgeDeps {
  readonly signing: Pick<SigningCertificateIssuer, 'issue'>;
  /** Checks the caller is an admin (throws otherwise). */
  readonly guard: (call: ServerUnaryCall<unknown, unknown>) => Promise<void>;
}

/** Code-signing and TSA certificates for admins: the CSR comes from the CLI, which keeps the key. */
export function signingHandlers(deps: SigningHandlerDeps): Pick<AdminServer, 'issueSigningCertificate'> {
  return {
    issueSigningCertificate: unary(
      'IssueSigningCertificate',
      deps,
      async (request: sigil.v1.IssueSigningCertificateRequest, call) => {
        await deps.guard(call);
        const leaf = await deps.signing.issue({
          csr: request.csr,
          profile: parseSigningProfile(request.profile === '' ? 'code-signing' : request.profile),
          ttlMs: Number(request.ttlSeconds) * 1000,
        });
        return {
          chain: [leaf.der, ...leaf.chainDer],
          serial: leaf.serial,
          notAfterUnixMs: leaf.notAfter,
          subject: leaf.subject,
        };
      },
    ),
  };
}
