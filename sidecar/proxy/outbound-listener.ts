import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { classifyTlsError } from './classify-tls-error.ts';
import { ClientSessionCache, type CachedSession, type SessionServer } from './client-session-cache.ts';
import { ConnectionTracker, stopServer, type StopOptions, type StopResult } from './connection-tracker.ts';
import { PeerIdentityCache, type PeerCertificate } from './peer-identity-cache.ts';
import { authorizeThen } from './authorize-then.ts';
import type { AuthorizationResult, ConnectionInfo, PeerInfo } from './peer-info.ts';
import { openProxiedConnection } from './proxied-connection.ts';
import type { RefusalReason } from './proxy-observer.ts';
import {
  checkHostPort,
  checkLimits,
  resolveDeps,
  type ConnectionLimits,
  type HostPort,
  type ProxyDeps,
  type ResolvedDeps,
} from './proxy-options.ts';
import { RefusalRecorder } from './refusal-recorder.ts';
import type { PipeResult } from './pipe.ts';
import { LogField } from '../../common/logger.ts';

export interface OutboundListenerOptions extends ConnectionLimits {
  /** Plaintext listener for the local app; loopback by default. Port 0 picks a free port. */
  readonly listen: { readonly host?: string; readonly port: number };
  /** The remote sidecar to originate mTLS to. */
  readonly upstream: HostPort;
  /** The SPIFFE ID(s) the upstream must present. The DNS name is not checked. */
  readonly expect: string | readonly string[];
  /** SNI to send, if the upstream routes on it. */
  readonly serverName?: string;
  /** Dial + handshake must finish within this. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Offer TLS 1.3 session tickets from earlier connections to this upstream. Default true. */
  readonly resumption?: boolean;
  /** Tickets kept for the upstream. Default 4. */
  readonly sessionCacheSize?: number;
}

/** What a connection attempt learns on the way: the ticket it offered, and whether it was piped. */
interface Attempt {
  piped: boolean;
  /** The credentials version the connection presented: tickets of a replaced SVID are not kept. */
  readonly credentialsVersion: number;
  readonly offered: CachedSession | undefined;
  /** Tickets the server sent before the connection was authorised; cached only once it is. */
  readonly tickets: Buffer[];
  verified: SessionServer | undefined;
}

/**
 * The outbound side of the sidecar: plaintext from the local app on loopback, mTLS to one upstream.
 *
 * Each accepted connection dials the upstream with the shared client context (own SVID as client
 * certificate, CA = bundle; TLS 1.3 unless configured otherwise). The server is verified by SPIFFE ID, not by DNS
 * name: `checkServerIdentity` runs the injected validator and compares against `expect`, so a mismatch fails the
 * handshake itself. Then `authorizePeer` (revocation) → pipe. Any refusal destroys the TLS socket and closes the
 * app's plaintext connection without having forwarded a byte; the app's bytes wait in the kernel meanwhile.
 *
 * Resumption: tickets from authorised connections are cached with the server's verified certificate and offered
 * on later connections. Node's client exposes no peer certificate on a resumed session, so the cached one is run
 * through the same checks (SVID, expected ID, expiry by the injected clock, revocation). New credentials (a new
 * SVID of ours or a new bundle) drop every ticket; `forgetSessionsWhere` drops a revoked server's.
 */
export class OutboundListener {
  readonly #options: OutboundListenerOptions;
  readonly #deps: ResolvedDeps;
  readonly #expect: ReadonlySet<string>;
  readonly #tracker = new ConnectionTracker();
  readonly #identities: PeerIdentityCache;
  readonly #refusals: RefusalRecorder;
  readonly #sessions: ClientSessionCache | undefined;
  #server: Server | undefined;
  /** The bound port: every accepted connection's local port, read once instead of a getsockname() per connection. */
  #port = 0;
  #unsubscribe: (() => void) | undefined;
  /** Replaces DNS-name checking on full handshakes; one function for every connection. */
  readonly #checkServerIdentity = (_host: string, cert: { readonly raw: Buffer }): Error | undefined => {
    const checked = this.#checkServer(cert.raw);
    return 'error' in checked ? checked.error : undefined;
  };

  constructor(options: OutboundListenerOptions, deps: ProxyDeps) {
    checkHostPort('listen', { host: options.listen.host ?? '127.0.0.1', port: options.listen.port }, true);
    checkHostPort('upstream', options.upstream, false);
    checkLimits(options);
    const expect = typeof options.expect === 'string' ? [options.expect] : [...options.expect];
    if (expect.length === 0) {
      throw new SigilError(
        ErrorCode.CONFIG_INVALID,
        'outbound listener needs at least one expected SPIFFE ID in expect',
      );
    }
    this.#expect = new Set(expect);
    this.#options = options;
    this.#deps = resolveDeps(deps, 'sidecar.proxy.outbound');
    this.#identities = new PeerIdentityCache({
      verifyPeer: deps.verifyPeer,
      ...(options.identityCacheSize === undefined ? {} : { maxEntries: options.identityCacheSize }),
    });
    this.#sessions =
      (options.resumption ?? true)
        ? new ClientSessionCache({
            clock: this.#deps.clock,
            // A session the handshake could outlive is not offered: past its expiry the connection would be refused
            // (renewal-under-load saw servers' 20 s SVIDs expire under tickets offered a few ms earlier).
            offerMarginMs: options.connectTimeoutMs ?? 10_000,
            ...(options.sessionCacheSize === undefined ? {} : { maxEntries: options.sessionCacheSize }),
          })
        : undefined;
    this.#refusals = new RefusalRecorder({
      direction: 'outbound',
      observer: this.#deps.observer,
      logger: this.#deps.logger,
      clock: this.#deps.clock,
    });
  }

  async start(): Promise<void> {
    if (this.#server) throw new SigilError(ErrorCode.INTERNAL, 'outbound listener already started');
    // Fails early (UNAVAILABLE) if no SVID has been published yet.
    void this.#deps.credentials.clientContext;
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    if (this.#options.maxConnections !== undefined) server.maxConnections = this.#options.maxConnections;
    server.on('connection', (client) => this.#onClient(client));
    server.on('drop', (data) => this.#refusals.record('max_connections', { remoteAddress: data?.remoteAddress }));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.listen.port, this.#options.listen.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#port = this.address().port;
    server.on('error', (err) => this.#deps.logger.error({ err }, 'outbound listener error'));
    // New client contexts are picked up per connection; cached verdicts and tickets are dropped: the bundle may
    // distrust the server now, and a ticket would present our previous SVID to it.
    this.#unsubscribe = this.#deps.credentials.subscribe(() => {
      this.#identities.clear();
      this.#sessions?.clear();
    });
  }

  address(): AddressInfo {
    const address = this.#server?.address();
    if (!address || typeof address === 'string') {
      throw new SigilError(ErrorCode.UNAVAILABLE, 'outbound listener is not listening; call start() first');
    }
    return address;
  }

  async stop(options: StopOptions): Promise<StopResult> {
    const server = this.#server;
    if (!server) return { forcedClosed: 0 };
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    const result = await stopServer(server, this.#tracker, { ...options, clock: this.#deps.clock });
    this.#deps.logger.info({ forcedClosed: result.forcedClosed }, 'outbound listener stopped');
    return result;
  }

  closeWhere(predicate: (connection: ConnectionInfo) => boolean): number {
    return this.#tracker.closeWhere(predicate);
  }

  connections(): ConnectionInfo[] {
    return this.#tracker.list();
  }

  refusals(): Readonly<Partial<Record<RefusalReason, number>>> {
    return this.#refusals.counts();
  }

  /** Drops the cached tickets of servers that match, e.g. newly revoked ones. Returns how many. */
  forgetSessionsWhere(predicate: (server: { readonly spiffeId: string; readonly serial: string }) => boolean): number {
    return this.#sessions?.forgetWhere((s) => predicate({ spiffeId: s.identity.spiffeId, serial: s.serial })) ?? 0;
  }

  /** How many tickets are cached for the upstream. */
  get cachedSessions(): number {
    return this.#sessions?.size ?? 0;
  }

  #onClient(client: Socket): void {
    if (!this.#deps.credentials.current) {
      client.destroy();
      this.#refusals.record('no_credentials', { remoteAddress: client.remoteAddress });
      return;
    }
    this.#tracker.trackSocket(client);
    client.on('error', (err) => this.#deps.logger.debug({ err }, 'outbound client error before piping'));
    const { host, port } = this.#options.upstream;
    const attempt: Attempt = {
      piped: false,
      credentialsVersion: this.#deps.credentials.current.version,
      offered: this.#sessions?.take(),
      tickets: [],
      verified: undefined,
    };
    // allowHalfOpen is honoured by tls.connect() but missing from @types/node's ConnectionOptions.
    const connectOptions: ConnectionOptions & { readonly allowHalfOpen: boolean } = {
      host,
      port,
      ...(this.#options.serverName === undefined ? {} : { servername: this.#options.serverName }),
      secureContext: this.#deps.credentials.clientContext,
      ...(attempt.offered ? { session: attempt.offered.session } : {}),
      rejectUnauthorized: true,
      allowHalfOpen: true,
      checkServerIdentity: this.#checkServerIdentity,
    };
    const upstream = tlsConnect(connectOptions);
    // Without TCP_NODELAY the first bytes after a resumed handshake wait behind the client's Finished for the
    // server's delayed ACK (about 40 ms on Linux): bench/mesh measured 20 resumed connections/s at c=1, 285 with it.
    upstream.setNoDelay(true);
    client.setNoDelay(true);
    this.#tracker.trackSocket(upstream);
    if (this.#sessions) upstream.on('session', (ticket: Buffer) => this.#onTicket(attempt, ticket));
    const timer = this.#deps.clock.setTimer(this.#options.connectTimeoutMs ?? 10_000, () => {
      upstream.destroy(new SigilError(ErrorCode.UNAVAILABLE, `no TLS session with ${host}:${port} in time`));
    });
    client.once('close', () => {
      if (!attempt.piped) upstream.destroy();
    });
    upstream.once('error', (err) => {
      timer.cancel();
      if (attempt.piped) return;
      const reason = classifyUpstreamError(err);
      if (reason !== 'upstream_unreachable') this.#deps.observer.handshake('outbound', reason);
      this.#refuse(reason, { err, upstream: `${host}:${port}` }, client);
    });
    upstream.once('secureConnect', () => {
      timer.cancel();
      this.#onSecure(client, upstream, attempt);
    });
  }

  /** Replaces DNS-name checking: the server must present an SVID for one of the expected IDs. */
  #checkServer(rawDer: Buffer): { readonly server: PeerCertificate } | { readonly error: Error } {
    let server: PeerCertificate;
    try {
      server = this.#identities.identify(rawDer);
    } catch (err) {
      return {
        error:
          err instanceof Error
            ? err
            : new SigilError(ErrorCode.SVID_INVALID, 'upstream certificate is not a valid SVID'),
      };
    }
    if (!this.#expect.has(server.identity.spiffeId)) {
      return {
        error: new SigilError(
          ErrorCode.PEER_ID_MISMATCH,
          `upstream presented ${server.identity.spiffeId}, expected ${[...this.#expect].join(' or ')}; check the upstream address and expect list`,
        ),
      };
    }
    return { server };
  }

  #onSecure(client: Socket, upstream: TLSSocket, attempt: Attempt): void {
    const resumed = upstream.isSessionReused();
    // The server declined the ticket (its keys rotated, or it expired there): no use offering it again.
    if (!resumed && attempt.offered) this.#sessions?.forget(attempt.offered);
    // On a resumed session Node has no peer certificate and skips checkServerIdentity: the ticket's verified
    // certificate is checked again (a cache hit) so no path escapes it.
    const raw = resumed ? attempt.offered?.server.raw : upstream.getPeerX509Certificate()?.raw;
    const checked = raw
      ? this.#checkServer(raw)
      : { error: new SigilError(ErrorCode.SVID_INVALID, 'no server certificate') };
    if ('error' in checked) {
      if (resumed && attempt.offered) this.#sessions?.forget(attempt.offered);
      const reason = classifyTlsError(checked.error);
      this.#deps.observer.handshake('outbound', reason);
      this.#refuse(reason, { err: checked.error }, client, upstream);
      return;
    }
    const { server } = checked;
    if (resumed && !((attempt.offered?.expiresAt ?? 0) > this.#deps.clock.now())) {
      if (attempt.offered) this.#sessions?.forget(attempt.offered);
      this.#deps.observer.handshake('outbound', 'session_expired');
      this.#refuse('session_expired', { [LogField.peer]: server.identity.spiffeId }, client, upstream);
      return;
    }
    this.#deps.observer.handshake('outbound', 'ok');
    const peer: PeerInfo = Object.freeze({
      direction: 'outbound',
      identity: server.identity,
      serial: server.serial,
      fingerprint256: server.fingerprint256,
      remoteAddress: upstream.remoteAddress ?? '',
      remotePort: upstream.remotePort ?? 0,
      localPort: this.#port,
    });
    authorizeThen(this.#deps.authorizePeer, peer, this.#deps.logger, (decision) =>
      this.#onDecision({ client, upstream, attempt, peer, server, raw, resumed }, decision),
    );
  }

  #onDecision(
    connection: {
      readonly client: Socket;
      readonly upstream: TLSSocket;
      readonly attempt: Attempt;
      readonly peer: PeerInfo;
      readonly server: PeerCertificate;
      readonly raw: Buffer | undefined;
      readonly resumed: boolean;
    },
    decision: AuthorizationResult,
  ): void {
    const { client, upstream, attempt, peer, server, raw, resumed } = connection;
    if (client.destroyed || upstream.destroyed) return;
    if (!decision.allowed) {
      this.#sessions?.forgetWhere((s) => s.serial === server.serial);
      this.#refuse('not_authorized', { peerId: peer.identity.spiffeId, detail: decision.reason }, client, upstream);
      return;
    }
    this.#deps.observer.session('outbound', resumed ? 'resumed' : 'full');
    // A resumed session's server is the one its ticket was cached with (the same certificate, checked above).
    if (resumed && attempt.offered) this.#acceptTickets(attempt, attempt.offered.server);
    else if (raw) this.#acceptTickets(attempt, { ...server, raw });
    attempt.piped = true;
    upstream.removeAllListeners('error');
    const pipe = openProxiedConnection({
      tracker: this.#tracker,
      deps: this.#deps,
      limits: this.#options,
      peer,
      downstream: client,
      upstream,
    });
    // In TLS 1.3 the client's handshake ends before the server has judged our certificate, so a destination's
    // deny (policy, revocation: a reset; an untrusted SVID: a TLS alert) arrives on the piped connection. Without
    // this it would read as a handshake "ok" and a close "error" with no word of who refused us.
    void pipe.closed.then((result) => {
      const refusal = peerRefusal(result);
      if (refusal === undefined) return;
      // Whatever the destination holds against us holds for every ticket it gave us: start again in full.
      this.#sessions?.forgetWhere((s) => s.serial === server.serial);
      this.#refusals.record('refused_by_peer', {
        [LogField.peer]: peer.identity.spiffeId,
        [LogField.serial]: peer.serial,
        upstream: `${this.#options.upstream.host}:${this.#options.upstream.port}`,
        resumed,
        ...refusal,
      });
    });
  }

  /** Tickets arrive after the handshake; they are cached once the connection carrying them is authorised. */
  #onTicket(attempt: Attempt, ticket: Buffer): void {
    if (attempt.verified) this.#cacheTicket(attempt, attempt.verified, ticket);
    else attempt.tickets.push(ticket);
  }

  #acceptTickets(attempt: Attempt, server: SessionServer): void {
    attempt.verified = server;
    for (const ticket of attempt.tickets.splice(0)) this.#cacheTicket(attempt, server, ticket);
  }

  #cacheTicket(attempt: Attempt, server: SessionServer, ticket: Buffer): void {
    // The server's ticket records our SVID as the client certificate: it must not outlive it, nor the server's.
    const current = this.#deps.credentials.current;
    if (current?.version !== attempt.credentialsVersion) return;
    const own = current.material.notAfter;
    this.#sessions?.add({ session: ticket, server, expiresAt: Math.min(server.notAfter, own) });
  }

  #refuse(
    reason: RefusalReason,
    fields: Readonly<Record<string, unknown>>,
    client: Socket,
    upstream?: TLSSocket,
  ): void {
    upstream?.destroy();
    client.destroy();
    this.#refusals.record(reason, fields);
  }
}

const DIAL_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * A piped connection the destination ended before sending a single byte: Sigil's inbound side closes a caller its
 * policy or revocation check refused right after the handshake, and OpenSSL sends an alert for a certificate it
 * rejects. A destination that ended first hung up while the app was still sending or waiting.
 */
export function peerRefusal(
  result: PipeResult,
): { readonly tls_alert_or_reset: string; readonly detail: string } | undefined {
  if (result.bytesUpstreamToDownstream > 0) return undefined;
  if (result.reason === 'done' && result.endedFirst === 'upstream')
    return {
      tls_alert_or_reset: 'close',
      detail:
        "the destination closed right after the handshake without sending a byte: most likely its policy or revocation check refused us (sigil policy explain --from <this sidecar's ID> --to <peer>)",
    };
  if (result.reason !== 'error' || result.error === undefined) return undefined;
  const code = String((result.error as { code?: unknown }).code ?? result.error.message);
  if (/ALERT/.test(code))
    return {
      tls_alert_or_reset: code,
      detail: 'the destination rejected our SVID with a TLS alert (is it trusted there, not revoked?)',
    };
  if (code === 'ECONNRESET' || code === 'EPIPE')
    return {
      tls_alert_or_reset: code,
      detail:
        "the destination reset the connection right after the handshake: most likely its policy or revocation check refused us (sigil policy explain --from <this sidecar's ID> --to <peer>)",
    };
  return undefined;
}

function classifyUpstreamError(err: unknown): RefusalReason {
  if (err instanceof SigilError && err.code === ErrorCode.UNAVAILABLE) return 'upstream_unreachable';
  if (DIAL_ERRORS.has(String((err as { code?: unknown }).code))) return 'upstream_unreachable';
  return classifyTlsError(err);
}
