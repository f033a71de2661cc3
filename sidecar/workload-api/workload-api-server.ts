import { chmod, unlink } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { isSigilError } from '../../common/errors.ts';
import { validateJwtSvid } from '../../common/jwt-svid.ts';
import type { Logger } from '../../common/logger.ts';
import type { TrustBundle } from '../../common/trust-bundle.ts';
import {
  type IJWTBundlesResponse,
  type IX509BundlesResponse,
  type IX509SVIDResponse,
  SpiffeWorkloadAPIService,
  type SpiffeWorkloadAPIServer,
} from '../../proto/workload.ts';
import type { JwtBundleState } from '../trust/jwt-bundle-state.ts';
import type { JwtSvidCache } from './jwt-svid-cache.ts';
import { SECURITY_HEADER } from './security-header.ts';
import { prepareSocketPath } from './socket-path.ts';
import { toStruct } from './struct-value.ts';
import type { WorkloadSvid, WorkloadSvidSource } from './workload-svid-source.ts';

export interface WorkloadApiServerOptions {
  readonly socketPath: string;
  /** File mode of the socket: with its owner, the access control (the sidecar serves exactly one workload). */
  readonly mode: number;
  readonly spiffeId: string;
  readonly trustDomain: string;
}

export interface WorkloadApiServerDeps {
  readonly svids: Pick<WorkloadSvidSource, 'current' | 'onChange'>;
  readonly trust: {
    readonly bundle: TrustBundle | undefined;
    onChange(listener: (b: TrustBundle) => void): () => void;
  };
  readonly jwtBundle: Pick<JwtBundleState, 'keys' | 'document' | 'onChange'>;
  readonly jwtSvids: Pick<JwtSvidCache, 'fetch'>;
  readonly clock: { now(): number };
  readonly logger: Logger;
}

type Failure = { code: grpc.status; details: string };

function concat(parts: readonly Uint8Array[]): Buffer {
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
}

function missingHeader(metadata: grpc.Metadata): Failure | undefined {
  return metadata.get(SECURITY_HEADER)[0] === 'true'
    ? undefined
    : { code: grpc.status.INVALID_ARGUMENT, details: 'security header missing from request' };
}

/**
 * The SPIFFE Workload API on a Unix socket: the X.509 and JWT profiles of the specification, for the one workload
 * beside the sidecar. Streams send the current state at once (when there is one) and again on every change;
 * a client that goes away is unsubscribed (no listener outlives its call).
 */
export class WorkloadApiServer {
  readonly #options: WorkloadApiServerOptions;
  readonly #deps: WorkloadApiServerDeps;
  readonly #server = new grpc.Server();
  #openStreams = 0;

  constructor(options: WorkloadApiServerOptions, deps: WorkloadApiServerDeps) {
    this.#options = options;
    this.#deps = deps;
    this.#server.addService(SpiffeWorkloadAPIService, this.#handlers());
  }

  /** Streams in progress: a test of disconnecting clients reads it to prove nothing leaks. */
  get openStreams(): number {
    return this.#openStreams;
  }

  /** Checks the socket directory, binds, then sets the socket's mode. Throws WORKLOAD_API_SOCKET on a bad path. */
  async start(): Promise<void> {
    const { socketPath, mode } = this.#options;
    await prepareSocketPath(socketPath);
    await new Promise<void>((resolve, reject) =>
      this.#server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    await chmod(socketPath, mode);
    this.#deps.logger.info({ socket: socketPath, mode: mode.toString(8) }, 'Workload API listening');
  }

  /**
   * Ends every call at once: Workload API streams never finish on their own, and SPIFFE clients reconnect (to the
   * next sidecar process) by design. The socket file goes with the server.
   */
  async stop(): Promise<void> {
    this.#server.forceShutdown();
    await unlink(this.#options.socketPath).catch(() => undefined);
  }

  #x509Response(svid: WorkloadSvid, bundle: TrustBundle): IX509SVIDResponse {
    return {
      svids: [
        {
          spiffeId: svid.spiffeId,
          x509Svid: concat(svid.chainDer),
          x509SvidKey: svid.keyPkcs8Der,
          bundle: concat(bundle.roots),
        },
      ],
    };
  }

  /**
   * A server stream that re-sends `current()` whenever one of `sources` reports a change, until the call ends; when
   * `refusal()` names a failure after the stream began (the identity was withdrawn), the stream ends with it.
   */
  #stream<T>(
    call: grpc.ServerWritableStream<unknown, T>,
    current: () => T | undefined,
    sources: readonly ((listener: () => void) => () => void)[],
    refusal: () => Failure | undefined = () => undefined,
  ): void {
    const failure = missingHeader(call.metadata);
    if (failure) {
      call.emit('error', failure);
      return;
    }
    this.#openStreams += 1;
    let ended = false;
    let unsubscribe: (() => void)[] = [];
    const end = () => {
      if (ended) return;
      ended = true;
      this.#openStreams -= 1;
      for (const off of unsubscribe) off();
    };
    let delivered = false;
    const write = (message: T | undefined) => {
      if (message === undefined || call.cancelled || !call.writable) return;
      call.write(message);
      delivered = true;
    };
    const send = () => {
      // Before the first message there is nothing to withdraw: the stream waits for the identity.
      const refused = delivered ? refusal() : undefined;
      if (refused) {
        end();
        call.emit('error', refused);
        return;
      }
      write(current());
    };
    unsubscribe = sources.map((subscribe) => subscribe(send));
    call.on('cancelled', end);
    call.on('close', end);
    call.on('error', end);
    call.on('finish', end);
    write(current());
  }

  #handlers(): SpiffeWorkloadAPIServer {
    const { svids, trust, jwtBundle, jwtSvids, clock, logger } = this.#deps;
    const { spiffeId, trustDomain } = this.#options;
    const tdId = `spiffe://${trustDomain}`;
    return {
      fetchX509SVID: (call) =>
        this.#stream(
          call,
          () => {
            const svid = svids.current;
            const bundle = trust.bundle;
            return svid && bundle ? this.#x509Response(svid, bundle) : undefined;
          },
          [(l) => svids.onChange(l), (l) => trust.onChange(l)],
          () =>
            svids.current
              ? undefined
              : { code: grpc.status.PERMISSION_DENIED, details: `${spiffeId} has no valid X.509-SVID any more` },
        ),
      fetchX509Bundles: (call) =>
        this.#stream<IX509BundlesResponse>(
          call,
          () => (trust.bundle ? { bundles: { [tdId]: concat(trust.bundle.roots) } } : undefined),
          [(l) => trust.onChange(l)],
        ),
      fetchJWTBundles: (call) =>
        this.#stream<IJWTBundlesResponse>(
          call,
          () => (jwtBundle.keys.length > 0 ? { bundles: { [tdId]: jwtBundle.document() } } : undefined),
          [(l) => jwtBundle.onChange(l)],
        ),
      fetchJWTSVID: (call, callback) => {
        const failure = missingHeader(call.metadata);
        if (failure) return callback(failure);
        const audience = call.request.audience.filter((a) => a !== '');
        if (audience.length === 0)
          return callback({ code: grpc.status.INVALID_ARGUMENT, details: 'audience must be specified' });
        if (call.request.spiffeId !== '' && call.request.spiffeId !== spiffeId)
          return callback({
            code: grpc.status.PERMISSION_DENIED,
            details: `this workload is ${spiffeId}, not ${call.request.spiffeId}`,
          });
        jwtSvids.fetch(audience).then(
          (token) => callback(null, { svids: [{ spiffeId, svid: token }] }),
          (err: unknown) => {
            logger.warn({ error: err instanceof Error ? err.message : String(err) }, 'JWT-SVID not available');
            callback({
              code: grpc.status.UNAVAILABLE,
              details: `no JWT-SVID could be obtained from the control plane: ${err instanceof Error ? err.message : String(err)}`,
            });
          },
        );
      },
      validateJWTSVID: (call, callback) => {
        const failure = missingHeader(call.metadata);
        if (failure) return callback(failure);
        const { audience, svid } = call.request;
        if (audience === '')
          return callback({ code: grpc.status.INVALID_ARGUMENT, details: 'audience must be specified' });
        if (svid === '') return callback({ code: grpc.status.INVALID_ARGUMENT, details: 'svid must be specified' });
        validateJwtSvid(svid, { audience, trustDomain, keys: jwtBundle.keys, now: clock.now() }).then(
          (valid) => callback(null, { spiffeId: valid.spiffeId, claims: toStruct(valid.claims) }),
          (err: unknown) =>
            callback({
              code: isSigilError(err) ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL,
              details: err instanceof Error ? err.message : String(err),
            }),
        );
      },
    };
  }
}
