import { Metadata, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { ErrorCode, isSigilError } from '../../common/errors.ts';
import { LogField, type Logger } from '../../common/logger.ts';
import { ERROR_CODE_METADATA_KEY, grpcStatusFor } from '../../common/wire-errors.ts';

export interface UnaryEdgeDeps {
  readonly logger: Logger;
  readonly onRefused: (rpc: string, code: string) => void;
  /** False: this refusal is not logged (a flood of refusals is counted in metrics, logged at a bounded rate). */
  readonly logRefusal?: (rpc: string, code: string) => boolean;
}

/**
 * Adapts an async handler to grpc-js. A SigilError becomes its status with the code in the trailers and its
 * message as the details (messages are written for clients); anything else is logged here, once, and the client
 * only learns that an internal error happened.
 */
export function unary<Req, Res>(
  rpc: string,
  deps: UnaryEdgeDeps,
  handler: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    // When the request arrived: what the effects of a change (a push reaching every sidecar) are measured from.
    deps.logger.debug({ rpc, [LogField.peer]: call.getPeer() }, 'request received');
    handler(call.request, call).then(
      (response) => callback(null, response),
      (err: unknown) => {
        const metadata = new Metadata();
        if (isSigilError(err) && err.code !== ErrorCode.INTERNAL) {
          metadata.set(ERROR_CODE_METADATA_KEY, err.code);
          deps.onRefused(rpc, err.code);
          if (deps.logRefusal?.(rpc, err.code) !== false)
            deps.logger.info(
              { rpc, [LogField.errCode]: err.code, [LogField.peer]: call.getPeer(), error: err.message },
              'request refused',
            );
          callback({ code: grpcStatusFor(err.code), details: err.message, metadata });
          return;
        }
        metadata.set(ERROR_CODE_METADATA_KEY, ErrorCode.INTERNAL);
        deps.onRefused(rpc, ErrorCode.INTERNAL);
        deps.logger.error({ rpc, err, [LogField.errCode]: ErrorCode.INTERNAL }, 'request failed');
        callback({
          code: status.INTERNAL,
          details: `internal error in ${rpc}; the control plane log has the cause`,
          metadata,
        });
      },
    );
  };
}
