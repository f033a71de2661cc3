import { LogField, silentLogger, type Logger } from '../../common/logger.ts';
import type { HostPort } from '../../common/address.ts';
import { systemClock, type Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { CredentialSource } from '../identity/credential-source.ts';
import { allowAllPeers, type AuthorizePeer, type VerifyPeer } from './peer-info.ts';
import { noopObserver, type ProxyObserver } from './proxy-observer.ts';

export type { HostPort };

/** Limits shared by both directions. */
export interface ConnectionLimits {
  /** No byte either way for this long closes the connection. 0 disables (not recommended). */
  readonly idleTimeoutMs: number;
  /** Optional hard cap on a connection's age, e.g. to force re-authentication. */
  readonly maxConnectionLifetimeMs?: number;
  /** Connections beyond this (handshaking ones included) are refused and counted. */
  readonly maxConnections?: number;
  /** How many peer certificates' parsed identities to remember. */
  readonly identityCacheSize?: number;
}

/** Injected collaborators of a listener. Only `credentials` and `verifyPeer` are required. */
export interface ProxyDeps {
  readonly credentials: CredentialSource;
  /** The X.509-SVID validator (common/); runs once per distinct certificate. */
  readonly verifyPeer: VerifyPeer;
  /** Revocation and policy; default allows every authenticated peer. */
  readonly authorizePeer?: AuthorizePeer;
  readonly observer?: ProxyObserver;
  readonly logger?: Logger;
  readonly clock?: Clock;
}

export interface ResolvedDeps {
  readonly credentials: CredentialSource;
  readonly verifyPeer: VerifyPeer;
  readonly authorizePeer: AuthorizePeer;
  readonly observer: ProxyObserver;
  readonly logger: Logger;
  readonly clock: Clock;
}

export function resolveDeps(deps: ProxyDeps, component: string): ResolvedDeps {
  return {
    credentials: deps.credentials,
    verifyPeer: deps.verifyPeer,
    authorizePeer: deps.authorizePeer ?? allowAllPeers,
    observer: deps.observer ?? noopObserver,
    logger: (deps.logger ?? silentLogger()).child({ [LogField.subsystem]: component }),
    clock: deps.clock ?? systemClock,
  };
}

function invalid(message: string): never {
  throw new SigilError(ErrorCode.CONFIG_INVALID, message);
}

export function checkPort(name: string, port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    invalid(`${name} must be a port number 0-65535, got ${port}`);
}

export function checkHostPort(name: string, target: HostPort, allowZero: boolean): void {
  if (typeof target.host !== 'string' || target.host === '') invalid(`${name}.host must be a host name or address`);
  checkPort(`${name}.port`, target.port);
  if (!allowZero && target.port === 0) invalid(`${name}.port must not be 0`);
}

export function checkLimits(limits: ConnectionLimits): void {
  const nonNegative = (name: string, value: number | undefined, required: boolean): void => {
    if (value === undefined && !required) return;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      invalid(`${name} must be a number of milliseconds >= 0, got ${String(value)}`);
    }
  };
  nonNegative('idleTimeoutMs', limits.idleTimeoutMs, true);
  nonNegative('maxConnectionLifetimeMs', limits.maxConnectionLifetimeMs, false);
  const max = limits.maxConnections;
  if (max !== undefined && (!Number.isInteger(max) || max < 1))
    invalid(`maxConnections must be an integer >= 1, got ${max}`);
  const cache = limits.identityCacheSize;
  if (cache !== undefined && (!Number.isInteger(cache) || cache < 1)) {
    invalid(`identityCacheSize must be an integer >= 1, got ${cache}`);
  }
}
