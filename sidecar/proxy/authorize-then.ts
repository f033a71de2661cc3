import type { Logger } from '../../common/logger.ts';
import type { AuthorizationResult, AuthorizePeer, PeerInfo } from './peer-info.ts';

const AUTHORIZER_FAILED: AuthorizationResult = Object.freeze({ allowed: false, reason: 'authorizer_failed' });

/**
 * Runs `authorize` on a new connection's peer and hands the decision to `then`: at once when it answers
 * synchronously (revocation and policy answer from memory), once settled when it returns a promise. A throw or a
 * rejection is a refusal (`authorizer_failed`), logged. Answering in the same tick spares every connection a promise
 * and a microtask turn, and leaves the socket no moment to change between the decision and its use.
 */
export function authorizeThen(
  authorize: AuthorizePeer,
  peer: PeerInfo,
  logger: Logger,
  then: (decision: AuthorizationResult) => void,
): void {
  const failed = (err: unknown): void => {
    logger.error({ err }, 'authorizePeer threw; refusing the connection');
    then(AUTHORIZER_FAILED);
  };
  let decision: AuthorizationResult | Promise<AuthorizationResult>;
  try {
    decision = authorize(peer);
  } catch (err) {
    failed(err);
    return;
  }
  if (decision instanceof Promise) decision.then(then, failed);
  else then(decision);
}
