import type { Duplex } from 'node:stream';
import type { ConnectionTracker } from './connection-tracker.ts';
import type { PeerInfo } from './peer-info.ts';
import { Pipe } from './pipe.ts';
import type { ConnectionLimits, ResolvedDeps } from './proxy-options.ts';
import { LogField } from '../../common/logger.ts';

/**
 * Starts piping an authorised connection and registers it, so it is counted, drained on stop and closable by
 * `closeWhere`. `downstream` is the side that connected to the listener, `upstream` the side it dialled.
 */
export function openProxiedConnection(args: {
  readonly tracker: ConnectionTracker;
  readonly deps: ResolvedDeps;
  readonly limits: ConnectionLimits;
  readonly peer: PeerInfo;
  readonly downstream: Duplex;
  readonly upstream: Duplex;
}): Pipe {
  const { tracker, deps, limits, peer } = args;
  const direction = peer.direction;
  const id = tracker.nextId();
  const pipe = new Pipe(args.downstream, args.upstream, {
    clock: deps.clock,
    idleTimeoutMs: limits.idleTimeoutMs,
    ...(limits.maxConnectionLifetimeMs === undefined ? {} : { maxLifetimeMs: limits.maxConnectionLifetimeMs }),
    onBytes: (flow, n) => deps.observer.bytes(direction, flow, n),
  });
  const info = Object.freeze({ id, peer, openedAt: deps.clock.now() });
  tracker.add({ info, close: (reason) => pipe.close(reason), closed: pipe.closed });
  deps.observer.connectionOpened(direction);
  // A child logger serialises its bindings when made: only worth it when its debug lines will be written.
  if (deps.logger.isLevelEnabled('debug')) logConnection(deps, id, peer, pipe);
  void pipe.closed.then((result) => deps.observer.connectionClosed(direction, result.reason, result.durationMs));
  return pipe;
}

function logConnection(deps: ResolvedDeps, id: number, peer: PeerInfo, pipe: Pipe): void {
  const log = deps.logger.child({
    connectionId: id,
    [LogField.peer]: peer.identity.spiffeId,
    [LogField.serial]: peer.serial,
  });
  log.debug({ remoteAddress: peer.remoteAddress, remotePort: peer.remotePort }, 'connection opened');
  void pipe.closed.then((result) => {
    log.debug(
      {
        reason: result.reason,
        durationMs: result.durationMs,
        bytesDownstreamToUpstream: result.bytesDownstreamToUpstream,
        bytesUpstreamToDownstream: result.bytesUpstreamToDownstream,
        ...(result.error ? { err: result.error } : {}),
      },
      'connection closed',
    );
  });
}
