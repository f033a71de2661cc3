import net from 'node:net';
import tls from 'node:tls';
import { ErrorCode, SigilError } from '../../common/errors.ts';

/**
 * One handshake to read the chain an endpoint serves, optionally after STARTTLS (SMTP's `STARTTLS` command or
 * PostgreSQL's SSLRequest). Bounded by `timeoutMs` from connect to the end of the handshake.
 */

export type StartTls = 'smtp' | 'postgres';

export interface ServedChain {
  readonly endpoint: string;
  /** Leaf first, DER. */
  readonly chain: readonly Uint8Array[];
  readonly protocol: string;
}

export interface FetchChainOptions {
  readonly host: string;
  readonly port: number;
  readonly servername?: string;
  readonly startTls?: StartTls;
  readonly timeoutMs?: number;
}

export async function fetchServedChain(o: FetchChainOptions): Promise<ServedChain> {
  const endpoint = `${o.host}:${o.port}`;
  const timeoutMs = o.timeoutMs ?? 5000;
  const fail = (message: string, cause?: unknown) =>
    new SigilError(ErrorCode.UNAVAILABLE, `${endpoint}: ${message}`, {
      ...(cause === undefined ? {} : { cause }),
      details: { endpoint },
    });
  const raw = net.connect({ host: o.host, port: o.port });
  const deadline = setTimeout(() => raw.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })), timeoutMs);
  try {
    await new Promise<void>((resolve, reject) => {
      raw.once('connect', resolve);
      raw.once('error', reject);
    });
    if (o.startTls === 'smtp') await smtpStartTls(raw);
    if (o.startTls === 'postgres') await postgresSslRequest(raw);
    const servername = o.servername ?? o.host;
    const socket = tls.connect({
      socket: raw,
      ...(net.isIP(servername) ? {} : { servername }),
      rejectUnauthorized: false,
      minVersion: 'TLSv1',
      ciphers: 'ALL:@SECLEVEL=0',
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
      raw.once('close', () => reject(Object.assign(new Error('closed during the handshake'), { code: 'ECONNRESET' })));
    });
    const chain: Uint8Array[] = [];
    const seen = new Set<string>();
    let c: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
    while (c?.raw && !seen.has(c.fingerprint256)) {
      seen.add(c.fingerprint256);
      chain.push(new Uint8Array(c.raw));
      c = c.issuerCertificate;
    }
    const protocol = socket.getProtocol() ?? '';
    socket.destroy();
    if (chain.length === 0) throw fail('served no certificate');
    return { endpoint, chain, protocol };
  } catch (err) {
    if (err instanceof SigilError) throw err;
    const e = err as Error & { code?: string; reason?: string };
    const why: Record<string, string> = {
      ENOTFOUND: 'the host name does not resolve: check the spelling or DNS',
      ECONNREFUSED: 'the connection was refused: is the service listening on that port?',
      ETIMEDOUT: `no answer within ${timeoutMs} ms: is it the right port, and is a firewall dropping packets?`,
    };
    throw fail(
      why[e.code ?? ''] ??
        `no TLS handshake (${e.reason ?? e.message.split('\n')[0]}): is it a TLS port${o.startTls ? ` speaking ${o.startTls} STARTTLS` : ' (try --starttls smtp|postgres)'}?`,
      err,
    );
  } finally {
    clearTimeout(deadline);
    raw.destroy();
  }
}

/** Reads SMTP reply lines until the last line of a reply (`NNN ` rather than `NNN-`); returns its code. */
function smtpReply(socket: net.Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const last = text.split('\r\n').find((l) => /^\d{3} /.test(l));
      if (!last) return;
      socket.off('data', onData);
      resolve(Number(last.slice(0, 3)));
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

async function smtpStartTls(socket: net.Socket): Promise<void> {
  if ((await smtpReply(socket)) !== 220) throw new Error('not an SMTP greeting');
  socket.write('EHLO sigil.invalid\r\n');
  if ((await smtpReply(socket)) !== 250) throw new Error('EHLO refused');
  socket.write('STARTTLS\r\n');
  if ((await smtpReply(socket)) !== 220) throw new Error('STARTTLS refused');
}

/** PostgreSQL's SSLRequest: length 8, code 80877103; the server answers one byte, 'S' to go on with TLS. */
async function postgresSslRequest(socket: net.Socket): Promise<void> {
  const request = Buffer.alloc(8);
  request.writeInt32BE(8, 0);
  request.writeInt32BE(80877103, 4);
  socket.write(request);
  const answer = await new Promise<Buffer>((resolve, reject) => {
    socket.once('data', resolve);
    socket.once('error', reject);
  });
  if (answer[0] !== 0x53) throw new Error('the server does not accept TLS (SSLRequest answered N)');
}
