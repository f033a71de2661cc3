import tls from 'node:tls';
import { ErrorCode, SigilError } from '../../common/errors.ts';

/**
 * Probes a TLS endpoint with real handshakes, one setting at a time (each handshake bounded by `timeoutMs`): which
 * protocol versions it accepts, its cipher suites per version in the order it picks them, its key-exchange groups,
 * the chain it serves, OCSP stapling and, when it speaks HTTP, its HSTS header. Grading is elsewhere (tls-grade.ts).
 */

export const PROTOCOLS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export interface SuiteFacts {
  /** IANA name, e.g. TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256. */
  readonly name: string;
  readonly forwardSecret: boolean;
  readonly aead: boolean;
}

export interface TlsProbeReport {
  /** `host:port`. */
  readonly endpoint: string;
  readonly servername: string;
  readonly protocols: readonly Protocol[];
  /** Per offered protocol, in the order the server picked them. */
  readonly suites: Readonly<Partial<Record<Protocol, readonly SuiteFacts[]>>>;
  readonly groups: readonly string[];
  /** Served chain, leaf first, DER. */
  readonly chain: readonly Uint8Array[];
  /** The chain verifies to the trusted roots (the system's, or `ca`). */
  readonly chainTrusted: boolean;
  readonly chainError: string | null;
  /** The leaf is valid for `servername`. */
  readonly nameMatches: boolean;
  readonly ocspStapled: boolean;
  /** The server asked for a client certificate (CertificateRequest) in the handshake: mutual TLS, optional or not. */
  readonly clientCertRequested: boolean;
  /** null when the endpoint did not answer HTTP; otherwise the header value or '' when absent. */
  readonly hsts: string | null;
}

export interface TlsProbeOptions {
  readonly host: string;
  readonly port: number;
  /** SNI and the name the certificate must match; defaults to host. */
  readonly servername?: string;
  /** Trusted roots (PEM); the system's by default. */
  readonly ca?: readonly string[];
  readonly timeoutMs?: number;
}

const GROUPS = ['X25519', 'P-256', 'P-384', 'P-521', 'X448'];
const TLS13_SUITES = tls
  .getCiphers()
  .filter((c) => c.startsWith('tls_'))
  .map((c) => c.toUpperCase());
/** Everything OpenSSL can still speak, however weak: a probe must see what the server offers. */
const LEGACY = 'ALL:@SECLEVEL=0';

interface Handshake {
  readonly socket: tls.TLSSocket;
  readonly ocsp: boolean;
}

type Attempt = { ok: true; hs: Handshake } | { ok: false; error: Error & { code?: string } };

export async function probeTls(options: TlsProbeOptions): Promise<TlsProbeReport> {
  const endpoint = `${options.host}:${options.port}`;
  const servername = options.servername ?? options.host;
  const timeoutMs = options.timeoutMs ?? 5000;
  const attempt = (extra: tls.ConnectionOptions) => handshake(options, servername, timeoutMs, extra);

  const protocols: Protocol[] = [];
  const failures: Error[] = [];
  for (const p of PROTOCOLS) {
    const r = await attempt({ minVersion: p, maxVersion: p, ciphers: p === 'TLSv1.3' ? undefined : LEGACY });
    if (r.ok) {
      protocols.push(p);
      r.hs.socket.destroy();
    } else {
      if (isFatal(r.error)) throw probeError(endpoint, r.error, timeoutMs);
      failures.push(r.error);
    }
  }
  if (protocols.length === 0) throw probeError(endpoint, failures.at(-1) ?? new Error('no handshake'), timeoutMs);

  const suites: Partial<Record<Protocol, SuiteFacts[]>> = {};
  for (const p of protocols) suites[p] = await suitesOf(p, attempt);

  const best = protocols.at(-1) as Protocol;
  const groups: string[] = [];
  for (const g of GROUPS) {
    const r = await attempt({
      minVersion: best,
      maxVersion: best,
      ecdhCurve: g,
      ciphers: best === 'TLSv1.3' ? undefined : LEGACY,
    });
    if (r.ok) {
      groups.push(g);
      r.hs.socket.destroy();
    }
  }

  const full = await attempt({
    minVersion: best,
    maxVersion: best,
    requestOCSP: true,
    ...(options.ca ? { ca: [...options.ca] } : {}),
    ciphers: best === 'TLSv1.3' ? undefined : LEGACY,
  });
  if (!full.ok) throw probeError(endpoint, full.error, timeoutMs);
  const socket = full.hs.socket;
  const chain = servedChain(socket);
  const leaf = socket.getPeerCertificate();
  const nameMatches = tls.checkServerIdentity(servername, leaf) === undefined;
  const report = {
    endpoint,
    servername,
    protocols,
    suites,
    groups,
    chain,
    chainTrusted: socket.authorized,
    chainError: socket.authorized ? null : String(socket.authorizationError ?? 'unverified'),
    nameMatches,
    ocspStapled: full.hs.ocsp,
    // OpenSSL fills a client's shared signature algorithms only from the server's CertificateRequest (TLS 1.2 and
    // 1.3 alike): a non-empty list is that message seen from the client, which sends no certificate in reply.
    clientCertRequested: socket.getSharedSigalgs().length > 0,
    hsts: await httpHsts(socket, servername, timeoutMs),
  };
  socket.destroy();
  return report;
}

/** Offers every suite the server has not picked yet, until it refuses: the picks come in the server's order. */
async function suitesOf(
  p: Protocol,
  attempt: (extra: tls.ConnectionOptions) => Promise<Attempt>,
): Promise<SuiteFacts[]> {
  const picked: SuiteFacts[] = [];
  const openssl: string[] = [];
  for (let i = 0; i < 64; i++) {
    const ciphers =
      p === 'TLSv1.3'
        ? TLS13_SUITES.filter((s) => !picked.some((x) => x.name === s)).join(':')
        : [LEGACY.split(':')[0], ...openssl.map((c) => `!${c}`), '@SECLEVEL=0'].join(':');
    if (ciphers === '') break;
    const r = await attempt({ minVersion: p, maxVersion: p, ciphers });
    if (!r.ok) break;
    const c = r.hs.socket.getCipher();
    r.hs.socket.destroy();
    const name = c.standardName || c.name;
    if (picked.some((x) => x.name === name)) break;
    picked.push({ name, ...suiteTraits(name, p) });
    openssl.push(c.name);
  }
  return picked;
}

/** From the IANA name: TLS 1.3 suites are all forward secret and AEAD; before, (EC)DHE and GCM/CCM/ChaCha20. */
export function suiteTraits(name: string, protocol: Protocol): { forwardSecret: boolean; aead: boolean } {
  if (protocol === 'TLSv1.3') return { forwardSecret: true, aead: true };
  return {
    forwardSecret: /^TLS_(ECDHE|DHE)_/.test(name),
    aead: /_(GCM|CCM|CCM_8)_|CHACHA20_POLY1305/.test(`${name}_`),
  };
}

function handshake(
  o: TlsProbeOptions,
  servername: string,
  timeoutMs: number,
  extra: tls.ConnectionOptions,
): Promise<Attempt> {
  return new Promise((resolve) => {
    let ocsp = false;
    const socket = tls.connect({
      host: o.host,
      port: o.port,
      ...(isIp(servername) ? {} : { servername }),
      rejectUnauthorized: false,
      // `authorized` then says whether the chain verifies; the name is judged on its own (nameMatches).
      checkServerIdentity: () => undefined,
      ...Object.fromEntries(Object.entries(extra).filter(([, v]) => v !== undefined)),
    });
    const timer = setTimeout(() => {
      const error = Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' });
      socket.destroy();
      resolve({ ok: false, error });
    }, timeoutMs);
    socket.on('OCSPResponse', (response: Buffer | null) => {
      ocsp = (response?.length ?? 0) > 0;
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      resolve({ ok: true, hs: { socket, ocsp } });
    });
    socket.once('error', (error: Error & { code?: string }) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: false, error });
    });
  });
}

function isIp(name: string): boolean {
  return /^[\d.]+$/.test(name) || name.includes(':');
}

/** Errors no other protocol setting can cure: the name, the route or the port. */
function isFatal(error: Error & { code?: string }): boolean {
  return ['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT'].includes(
    error.code ?? '',
  );
}

function probeError(
  endpoint: string,
  error: Error & { code?: string; reason?: string },
  timeoutMs: number,
): SigilError {
  const why: Record<string, string> = {
    ENOTFOUND: 'the host name does not resolve: check the spelling or DNS',
    EAI_AGAIN: 'the host name could not be resolved now: check DNS',
    ECONNREFUSED: 'the connection was refused: is the service listening on that port?',
    EHOSTUNREACH: 'the host is unreachable: check the address and routing',
    ENETUNREACH: 'the network is unreachable: check the address and routing',
    ETIMEDOUT: `no TLS answer within ${timeoutMs} ms: is it a TLS port, and is a firewall dropping packets?`,
  };
  const message =
    why[error.code ?? ''] ??
    `no TLS handshake succeeded (${oneLine(error)}): is this a TLS port? For STARTTLS services, use their TLS port`;
  return new SigilError(ErrorCode.UNAVAILABLE, `${endpoint}: ${message}`, { cause: error, details: { endpoint } });
}

/** OpenSSL's messages span lines; its `reason` is the short form. */
function oneLine(error: Error & { reason?: string }): string {
  return error.reason ?? error.message.split('\n').find((l) => l.trim() !== '') ?? 'unknown error';
}

function servedChain(socket: tls.TLSSocket): Uint8Array[] {
  const chain: Uint8Array[] = [];
  let c: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  const seen = new Set<string>();
  while (c?.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    chain.push(new Uint8Array(c.raw));
    c = c.issuerCertificate;
  }
  return chain;
}

/** Sends one HEAD request; reads the answer's head only. null if the endpoint does not speak HTTP in time. */
function httpHsts(socket: tls.TLSSocket, host: string, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    let head = '';
    const done = (value: string | null) => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      resolve(value);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (head.length > 4 && !head.startsWith('HTTP/')) return done(null);
      if (end < 0 && head.length < 65536) return;
      const line = head
        .slice(0, end < 0 ? undefined : end)
        .split('\r\n')
        .find((l) => /^strict-transport-security\s*:/i.test(l));
      done(line ? line.slice(line.indexOf(':') + 1).trim() : '');
    });
    socket.once('error', () => done(null));
    socket.once('end', () => done(head.startsWith('HTTP/') ? '' : null));
    socket.write(`HEAD / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}
