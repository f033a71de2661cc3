import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { TestPki } from '../../test/fixtures/cert-factory.ts';
import { CredentialSource, type TlsMaterial } from '../identity/credential-source.ts';
import type { PeerIdentity } from './peer-info.ts';
import type {
  ByteFlow,
  CloseReason,
  ProxyDirection,
  ProxyObserver,
  RefusalReason,
  SessionMode,
} from './proxy-observer.ts';
import { resolveClientTlsSettings } from './tls-settings.ts';

/** Test-only helpers for the proxy tests (not a test file itself). */

export async function materialFor(pki: TestPki, spiffeId: string): Promise<TlsMaterial> {
  const svid = await pki.issueSvid(spiffeId);
  return {
    certChainPem: svid.chainPem,
    keyPem: svid.key.keyPem,
    bundlePem: pki.bundlePem,
    spiffeId,
    serial: svid.serial,
    notAfter: svid.cert.notAfter.getTime(),
  };
}

export function credentialSourceWith(material: TlsMaterial): CredentialSource {
  const source = new CredentialSource({ clientTls: resolveClientTlsSettings() });
  source.update(material);
  return source;
}

/** A stand-in for the common/ SVID validator: exactly one URI SAN, which must be a spiffe:// URI. */
export function uriSanVerifier(calls: { count: number } = { count: 0 }): (der: Buffer) => PeerIdentity {
  return (der) => {
    calls.count += 1;
    const cert = new x509.X509Certificate(der);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    const uris = (san?.names.items ?? []).filter((n) => n.type === 'url').map((n) => n.value);
    const [uri] = uris;
    if (uris.length !== 1 || uri === undefined || !uri.startsWith('spiffe://')) {
      throw new SigilError(ErrorCode.SVID_INVALID, 'certificate must carry exactly one spiffe:// URI SAN');
    }
    return { spiffeId: uri };
  };
}

export interface EchoApp {
  readonly server: Server;
  readonly port: number;
  /** Every byte the app received, per connection, in order. */
  readonly received: string[];
  close(): Promise<void>;
}

/** Echoes every chunk; when the client half-closes it answers "bye" and ends its side. */
export async function startEchoApp(): Promise<EchoApp> {
  const received: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    const index = received.push('') - 1;
    socket.on('data', (chunk: Buffer) => {
      received[index] += chunk.toString();
      socket.write(chunk);
    });
    socket.on('end', () => socket.end('bye'));
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('echo app has no address');
  return {
    server,
    port: address.port,
    received,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export async function connectPlain(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  await once(socket, 'connect');
  return socket;
}

/** Resolves with the next chunk the socket receives, as text. */
export async function nextData(socket: Socket): Promise<string> {
  const [chunk] = (await once(socket, 'data')) as [Buffer];
  return chunk.toString();
}

/** Resolves with everything the socket receives until its readable side ends or it closes. */
export function readToEnd(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.once('end', () => resolve(text));
    socket.once('close', () => resolve(text));
  });
}

export type ObservedEvent =
  | { readonly type: 'handshake'; readonly direction: ProxyDirection; readonly outcome: 'ok' | RefusalReason }
  | { readonly type: 'session'; readonly direction: ProxyDirection; readonly mode: SessionMode }
  | { readonly type: 'refused'; readonly direction: ProxyDirection; readonly reason: RefusalReason }
  | { readonly type: 'opened'; readonly direction: ProxyDirection }
  | { readonly type: 'closed'; readonly direction: ProxyDirection; readonly reason: CloseReason }
  | { readonly type: 'bytes'; readonly direction: ProxyDirection; readonly flow: ByteFlow; readonly n: number };

/** Records observer calls and lets a test await one (no sleeps). */
export class RecordingObserver implements ProxyObserver {
  readonly events: ObservedEvent[] = [];
  #waiters: { match: (e: ObservedEvent) => boolean; resolve: (e: ObservedEvent) => void }[] = [];

  handshake(direction: ProxyDirection, outcome: 'ok' | RefusalReason): void {
    this.#push({ type: 'handshake', direction, outcome });
  }
  session(direction: ProxyDirection, mode: SessionMode): void {
    this.#push({ type: 'session', direction, mode });
  }
  refused(direction: ProxyDirection, reason: RefusalReason): void {
    this.#push({ type: 'refused', direction, reason });
  }
  connectionOpened(direction: ProxyDirection): void {
    this.#push({ type: 'opened', direction });
  }
  connectionClosed(direction: ProxyDirection, reason: CloseReason): void {
    this.#push({ type: 'closed', direction, reason });
  }
  bytes(direction: ProxyDirection, flow: ByteFlow, n: number): void {
    this.#push({ type: 'bytes', direction, flow, n });
  }

  /** Resolves with the first event (already seen or future) matching `match`. */
  waitFor(match: (e: ObservedEvent) => boolean): Promise<ObservedEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  #push(event: ObservedEvent): void {
    this.events.push(event);
    const ready = this.#waiters.filter((w) => w.match(event));
    this.#waiters = this.#waiters.filter((w) => !w.match(event));
    for (const w of ready) w.resolve(event);
  }
}

export interface TlsClientOptions {
  readonly port: number;
  readonly bundlePem: string;
  /** Client certificate; none when absent. */
  readonly material?: TlsMaterial;
  readonly extra?: ConnectionOptions;
}

/** A raw TLS client against an inbound listener. The server is trusted by bundle; its name is not checked here. */
export function tlsClient(options: TlsClientOptions): TLSSocket {
  const settings: ConnectionOptions & { allowHalfOpen: boolean } = {
    host: '127.0.0.1',
    port: options.port,
    ca: options.bundlePem,
    ...(options.material ? { cert: options.material.certChainPem, key: options.material.keyPem } : {}),
    checkServerIdentity: () => undefined,
    allowHalfOpen: true,
    ...options.extra,
  };
  const socket = tlsConnect(settings);
  socket.on('error', () => {});
  return socket;
}

/**
 * Waits for the TLS session, sends a byte and resolves with how the connection ended. Under TLS 1.3 a refused
 * client certificate only shows on the client's first read, so the write is what makes the refusal visible.
 */
export function sendAndAwaitEnd(socket: TLSSocket): Promise<{ readonly error?: Error; readonly data: string }> {
  return new Promise((resolve) => {
    let data = '';
    let error: Error | undefined;
    socket.once('secureConnect', () => socket.write('x'));
    socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
    socket.on('error', (err) => {
      error ??= err;
      // A TLS error after the handshake does not destroy a half-open-capable socket by itself.
      socket.destroy();
    });
    // A server that drops a refused peer may only send FIN, which leaves a half-open-capable socket open.
    socket.once('end', () => socket.destroy());
    socket.once('close', () => resolve({ ...(error ? { error } : {}), data }));
  });
}
