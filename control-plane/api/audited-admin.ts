import { randomUUID } from 'node:crypto';
import { Metadata, type sendUnaryData, type ServerUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { ErrorCode } from '../../common/errors.ts';
import { LogField, type Logger } from '../../common/logger.ts';
import { ERROR_CODE_METADATA_KEY } from '../../common/wire-errors.ts';
import type { AcmeServer, AdminServer } from '../../proto/index.ts';
import type { AuditInput, AuditLog } from '../audit/audit-log.ts';
import type { AuditResult } from '../store/store.ts';
import { actionOf, AUDIT_SPECS } from './audit-actions.ts';
import { verifiedCaller } from './caller.ts';

/** Metadata key of the request id: a client may send one (kept when well-formed); the answer always carries it. */
export const REQUEST_ID_METADATA_KEY = 'sigil-request-id';
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The refusals that say the caller may not use the Admin API at all: audited for read-only calls too. */
const CALLER_REFUSALS: ReadonlySet<string> = new Set([ErrorCode.PEER_UNAUTHENTICATED, ErrorCode.PEER_NOT_ADMIN]);
/** Outcomes that are the control plane's fault, not the request's. */
const FAILURES: ReadonlySet<string> = new Set([ErrorCode.INTERNAL, ErrorCode.UNAVAILABLE]);

export interface AuditedAdminDeps {
  readonly audit: Pick<AuditLog, 'record'>;
  readonly trustDomain: string;
  readonly logger: Logger;
}

/**
 * Wraps every Admin (and Acme) RPC once, so no handler has to remember the audit log: a call that changes state is recorded
 * with its outcome (ok, refused, failed), and any call refused because of who the caller is is recorded too.
 * The entry is written before the answer leaves, so an operator who sees a change can find it in the log; a log
 * that cannot be written is logged as an error and does not undo the change already made.
 */
export function audited<Service extends AdminServer | AcmeServer>(server: Service, deps: AuditedAdminDeps): Service {
  const wrapped: Record<string, unknown> = {};
  for (const [method, handler] of Object.entries(server)) {
    wrapped[method] = wrap(method, handler as Handler, deps);
  }
  return wrapped as Service;
}

type Handler = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => void;

function wrap(method: string, handler: Handler, deps: AuditedAdminDeps): Handler {
  const spec = AUDIT_SPECS[method];
  return (call, callback) => {
    const requestId = requestIdOf(call);
    const trailer = new Metadata();
    trailer.set(REQUEST_ID_METADATA_KEY, requestId);
    const finish = (entry: AuditInput | undefined, answer: () => void) => {
      if (!entry) return answer();
      deps.audit.record(entry).then(answer, (err: unknown) => {
        deps.logger.error(
          { err, rpc: method, [LogField.errCode]: (err as { code?: string }).code, request_id: requestId },
          'audit entry not recorded',
        );
        answer();
      });
    };
    handler(call, (err, value) => {
      const base = { actor: actorOf(call, deps.trustDomain), action: actionOf(method, call.request), requestId };
      if (!err) {
        const entry = spec?.readOnly
          ? undefined
          : { ...base, target: targetOf(method, call.request, value), result: 'ok' as const };
        finish(entry, () => callback(null, value, trailer));
        return;
      }
      const code = String((err as ServiceError).metadata?.get(ERROR_CODE_METADATA_KEY)[0] ?? ErrorCode.INTERNAL);
      (err as ServiceError).metadata?.set(REQUEST_ID_METADATA_KEY, requestId);
      const audited = !spec?.readOnly || CALLER_REFUSALS.has(code);
      const result: AuditResult = FAILURES.has(code) ? 'failed' : 'refused';
      const entry = audited
        ? { ...base, target: targetOf(method, call.request), result, detail: `${code}: ${err.details ?? ''}` }
        : undefined;
      finish(entry, () => callback(err));
    });
  };
}

function requestIdOf(call: ServerUnaryCall<unknown, unknown>): string {
  const sent = call.metadata.get(REQUEST_ID_METADATA_KEY)[0];
  return typeof sent === 'string' && REQUEST_ID.test(sent) ? sent : randomUUID();
}

function actorOf(call: ServerUnaryCall<unknown, unknown>, trustDomain: string): string {
  try {
    return verifiedCaller(call, trustDomain).spiffeId.uri;
  } catch {
    // No certificate, or none of this trust domain: the detail of the entry says which.
    return 'anonymous';
  }
}

function targetOf(method: string, request: unknown, response?: unknown): string {
  const spec = AUDIT_SPECS[method];
  try {
    return spec ? spec.target(request as never, response as never) : '';
  } catch {
    return '';
  }
}
