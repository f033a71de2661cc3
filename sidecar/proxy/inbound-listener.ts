import type { AddressInfo, Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { describe, type Credentials } from '../identity/credential-source.ts';
import { classifyTlsError } from './classify-tls-error.ts';
import { ConnectionTracker, stopServer, type StopOptions, type StopResult } from './connection-tracker.ts';
import { HANDSHAKE_DEFAULTS, HandshakeGate, type HandshakeLimits, type PendingSlot } from './handshake-gate.ts';
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
import { connectUpstream } from './upstream-socket.ts';
import { resolveTlsSettings, type TlsSettings, type TlsVersion } from './tls-settings.ts';
import { ServerResumption } from './server-resumption.ts';

export interface InboundListenerOptions extends ConnectionLimits, HandshakeLimits {
  /** Where to accept mTLS connections; port 0 picks a free port (see `address()`). */
  readonly listen: HostPort;
  /** The local application the verified traffic goes to. */
  readonly forward: HostPort;
  /** Default TLS 1.3; 'TLSv1.2' adds forward-secret AEAD suites only. */
  readonly minTlsVersion?: TlsVersion;
  /** Issue TLS 1.3 session tickets so callers can resume. Default true. */
  readonly resumption?: boolean;
  /** Ticket keys are replaced this often (and at once on a new trust bundle); also the ticket lifetime. Default 1 h. */
  readonly ticketKeyRotationMs?: number;
}

/**
 * The inbound side of the sidecar: mTLS in, plaintext to the local app.
 *
 * Order per connection: TLS handshake with the client certificate verified by Node against the bundle →
 * SPIFFE ID from the injected validator (once per certificate) → `authorizePeer` (revocation, policy) →
 * connect to the app → pipe. A refusal at any step destroys the connection before a byte reaches the app.
 * New credentials are swapped in with `server.setSecureContext()`: open connections keep theirs, new
 * handshakes use the new ones. If the new material cannot be loaded, the old stays in force.
 *
 * Resumed sessions (TLS 1.3 tickets) skip the certificate exchange but nothing else: the peer's leaf is restored
 * from the ticket, and the same SVID check, revocation and policy run on it; a resumption whose certificate has
 * expired by the injected clock is refused. Ticket keys rotate on a schedule and on every bundle change, so a
 * session accepted under one bundle is never resumed under another.
 */
export class InboundListener {
  readonly #options: InboundListenerOptions;
  readonly #deps: ResolvedDeps;
  readonly #tls: TlsSettings;
  readonly #resumption: ServerResumption;
  readonly #tracker = new ConnectionTracker();
  readonly #identities: PeerIdentityCache;
  readonly #refusals: RefusalRecorder;
  readonly #gate: HandshakeGate;
  /** Slots of handshakes in progress, by `address|port` (the TLS socket and the accepted socket share it). */
  readonly #pendingSlots = new Map<string, PendingSlot>();
  #server: Server | undefined;
  /** The bound port: every accepted connection's local port, read once instead of a getsockname() per connection. */
  #port = 0;
  #appliedVersion = 0;
  #unsubscribe: (() => void) | undefined;

  constructor(options: InboundListenerOptions, deps: ProxyDeps) {
    checkHostPort('listen', options.listen, true);
    checkHostPort('forward', options.forward, false);
    checkLimits(options);
    this.#gate = new HandshakeGate(options);
    this.#options = options;
    this.#tls = resolveTlsSettings({ minVersion: options.minTlsVersion ?? 'TLSv1.3' });
    this.#deps = resolveDeps(deps, 'sidecar.proxy.inbound');
    this.#resumption = new ServerResumption({
      resumption: options.resumption ?? true,
      ticketKeyRotationMs: options.ticketKeyRotationMs ?? 3_600_000,
      clock: this.#deps.clock,
      logger: this.#deps.logger,
    });
    this.#identities = new PeerIdentityCache({
      verifyPeer: deps.verifyPeer,
      ...(options.identityCacheSize === undefined ? {} : { maxEntries: options.identityCacheSize }),
    });
    this.#refusals = new RefusalRecorder({
      direction: 'inbound',
      observer: this.#deps.observer,
      logger: this.#deps.logger,
      clock: this.#deps.clock,
    });
  }

  /** Starts listening. Throws UNAVAILABLE if no SVID has been published yet. */
  async start(): Promise<void> {
    if (this.#server) throw new SigilError(ErrorCode.INTERNAL, 'inbound listener already started');
    const credentials = this.#deps.credentials.current;
    if (!credentials) {
      throw new SigilError(ErrorCode.UNAVAILABLE, 'cannot start the inbound listener before an SVID is published');
    }
    const server = createServer({
      ...credentials.serverContextOptions,
      ...this.#tls,
      ...this.#resumption.settings,
      requestCert: true,
      rejectUnauthorized: true,
      // Half-close is switched on once the handshake is done (#onSecure): a client that sends FIN mid-handshake
      // can never finish it, and would otherwise hold its slot until the handshake timeout (slowloris).
      allowHalfOpen: false,
      // Counted from the accept, however slowly a client trickles its handshake (test: slowloris).
      handshakeTimeout: this.#options.handshakeTimeoutMs ?? HANDSHAKE_DEFAULTS.handshakeTimeoutMs,
    });
    if (this.#options.maxConnections !== undefined) server.maxConnections = this.#options.maxConnections;
    server.on('connection', (socket) => {
      if (!this.#deps.credentials.current) {
        socket.destroy();
        this.#refusals.record('no_credentials', { remoteAddress: socket.remoteAddress });
        return;
      }
      if (!this.#admit(socket)) return;
      this.#tracker.trackSocket(socket);
    });
    server.on('drop', (data) => this.#refuse('max_connections', { remoteAddress: data?.remoteAddress }));
    server.on('tlsClientError', (err, socket) => this.#onHandshakeError(err, socket));
    server.on('secureConnection', (socket) => this.#onSecure(socket));
    this.#server = server;
    this.#appliedVersion = credentials.version;
    this.#resumption.start(server, credentials.material.bundlePem);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.listen.port, this.#options.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#port = this.address().port;
    server.on('error', (err) => this.#deps.logger.error({ err }, 'inbound listener error'));
    this.#unsubscribe = this.#deps.credentials.subscribe((c) => this.#applyCredentials(c));
  }

  /** The bound address (useful with port 0). Throws if not listening. */
  address(): AddressInfo {
    const address = this.#server?.address();
    if (!address || typeof address === 'string') {
      throw new SigilError(ErrorCode.UNAVAILABLE, 'inbound listener is not listening; call start() first');
    }
    return address;
  }

  /** Stops accepting, drains for up to `drainTimeoutMs`, then destroys what is left. */
  async stop(options: StopOptions): Promise<StopResult> {
    const server = this.#server;
    if (!server) return { forcedClosed: 0 };
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#resumption.stop();
    const result = await stopServer(server, this.#tracker, { ...options, clock: this.#deps.clock });
    this.#deps.logger.info({ forcedClosed: result.forcedClosed }, 'inbound listener stopped');
    return result;
  }

  /** Closes live connections whose peer matches, e.g. a newly revoked one. Returns how many. */
  closeWhere(predicate: (connection: ConnectionInfo) => boolean): number {
    return this.#tracker.closeWhere(predicate);
  }

  connections(): ConnectionInfo[] {
    return this.#tracker.list();
  }

  refusals(): Readonly<Partial<Record<RefusalReason, number>>> {
    return this.#refusals.counts();
  }

  /** Handshakes accepted and not finished yet, and a promise for when there are none. */
  pendingHandshakes(): { readonly count: number; readonly none: Promise<void> } {
    return { count: this.#gate.pending, none: this.#gate.whenNonePending() };
  }

  #applyCredentials(credentials: Credentials): void {
    const server = this.#server;
    if (!server || credentials.version <= this.#appliedVersion) return;
    const { bundlePem } = credentials.material;
    try {
      server.setSecureContext({
        ...credentials.serverContextOptions,
        ...this.#tls,
        ...this.#resumption.contextOptionsFor(bundlePem),
      });
      this.#appliedVersion = credentials.version;
      // A new bundle may distrust what was accepted before: validate certificates afresh.
      this.#identities.clear();
      this.#resumption.applied(bundlePem);
      this.#deps.logger.info(
        { credentials: describe(credentials.material), version: credentials.version },
        'inbound credentials swapped',
      );
    } catch (err) {
      this.#deps.logger.error(
        { err, credentials: describe(credentials.material) },
        'new credentials rejected; keeping the previous ones',
      );
    }
  }

  #onHandshakeError(err: Error, socket: TLSSocket): void {
    // Node verifies the client chain after OpenSSL's handshake and just drops the socket when it fails, so the
    // error is a bare hang-up; the verification result is on the socket.
    const verifyError: unknown = socket.authorizationError;
    const reason = verifyError
      ? classifyTlsError({
          code: typeof verifyError === 'string' ? verifyError : (verifyError as { code?: unknown }).code,
        })
      : classifyTlsError(err);
    this.#deps.observer.handshake('inbound', reason);
    this.#refuse(reason, { err, verifyError, remoteAddress: socket.remoteAddress });
    socket.destroy();
  }

  /** Takes a pending-handshake slot for a new connection, or closes it at once (slowloris). */
  #admit(socket: Socket): boolean {
    const { remoteAddress, remotePort } = socket;
    const slot = this.#gate.admit(remoteAddress);
    if (typeof slot === 'string') {
      // A reset frees the port at once on both sides and leaves no TIME_WAIT here.
      socket.resetAndDestroy();
      this.#refusals.record(slot, { remoteAddress, pending: this.#gate.pending });
      return false;
    }
    const key = `${remoteAddress}|${remotePort}`;
    this.#pendingSlots.set(key, slot);
    socket.once('close', () => {
      slot.release();
      if (this.#pendingSlots.get(key) === slot) this.#pendingSlots.delete(key);
    });
    return true;
  }

  #handshakeDone(socket: TLSSocket): void {
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    this.#pendingSlots.get(key)?.release();
    this.#pendingSlots.delete(key);
  }

  #onSecure(socket: TLSSocket): void {
    this.#handshakeDone(socket);
    socket.allowHalfOpen = true;
    socket.on('error', (err) => this.#deps.logger.debug({ err }, 'inbound socket error before piping'));
    const resumed = socket.isSessionReused();
    const peer = this.#identify(socket, resumed);
    if (!peer) return;
    authorizeThen(this.#deps.authorizePeer, peer, this.#deps.logger, (decision) =>
      this.#onDecision(socket, peer, resumed, decision),
    );
  }

  #onDecision(socket: TLSSocket, peer: PeerInfo, resumed: boolean, decision: AuthorizationResult): void {
    if (socket.destroyed) return;
    if (!decision.allowed) {
      this.#refuse('not_authorized', { peerId: peer.identity.spiffeId, detail: decision.reason }, socket);
      return;
    }
    this.#deps.observer.session('inbound', resumed ? 'resumed' : 'full');
    // Nagle's algorithm on either hop would hold back the small writes of request/response traffic; a transparent
    // proxy forwards what it gets at once, as nginx (tcp_nodelay) and HAProxy do.
    socket.setNoDelay(true);
    const app = connectUpstream({ ...this.#options.forward, allowHalfOpen: true, noDelay: true });
    this.#tracker.trackSocket(app);
    app.once('error', (err) => {
      this.#refuse(
        'app_unreachable',
        { err, forward: `${this.#options.forward.host}:${this.#options.forward.port}` },
        socket,
      );
    });
    socket.once('close', () => {
      if (app.connecting) app.destroy();
    });
    app.once('connect', () => {
      if (socket.destroyed) return void app.destroy();
      app.removeAllListeners('error');
      openProxiedConnection({
        tracker: this.#tracker,
        deps: this.#deps,
        limits: this.#options,
        peer,
        downstream: socket,
        upstream: app,
      });
    });
  }

  /** Returns the peer, or refuses the connection and returns undefined. */
  #identify(socket: TLSSocket, resumed: boolean): PeerInfo | undefined {
    // The DER is all the hot path reads from Node: serial, fingerprint and SPIFFE ID come from the cache, since each
    // accessor of a fresh X509Certificate costs as much as the DER itself (getPeerCertificate() costs more still).
    const raw = socket.getPeerX509Certificate()?.raw;
    if (!raw) {
      this.#deps.observer.handshake('inbound', 'no_peer_certificate');
      this.#refuse('no_peer_certificate', { remoteAddress: socket.remoteAddress }, socket);
      return undefined;
    }
    let peer: PeerCertificate;
    try {
      peer = this.#identities.identify(raw);
    } catch (err) {
      this.#deps.observer.handshake('inbound', 'invalid_svid');
      this.#refuse(
        'invalid_svid',
        { err, remoteAddress: socket.remoteAddress, peerSerial: socket.getPeerX509Certificate()?.serialNumber },
        socket,
      );
      return undefined;
    }
    if (resumed && this.#resumption.expired(peer.notAfter)) {
      this.#deps.observer.handshake('inbound', 'session_expired');
      this.#refuse('session_expired', { peerSerial: peer.serial, peerId: peer.identity.spiffeId }, socket);
      return undefined;
    }
    this.#deps.observer.handshake('inbound', 'ok');
    return Object.freeze({
      direction: 'inbound',
      identity: peer.identity,
      serial: peer.serial,
      fingerprint256: peer.fingerprint256,
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      localPort: this.#port,
    });
  }

  #refuse(reason: RefusalReason, fields: Readonly<Record<string, unknown>>, socket?: TLSSocket): void {
    socket?.destroy();
    this.#refusals.record(reason, fields);
  }
}
