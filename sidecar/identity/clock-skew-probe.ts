import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { parseHostPort } from '../../common/address.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';

/**
 * Reads when the certificate a control plane presents becomes valid, without trusting it: only to put a number on
 * a clock skew that already made the verified connection fail. Resolves undefined if that cannot be learnt.
 */
export function probeNotBefore(address: string, timeoutMs: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    let target: { host: string; port: number };
    try {
      target = parseHostPort(address);
    } catch {
      resolve(undefined);
      return;
    }
    const socket = connect({ ...target, rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    const done = (value: number | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.once('secureConnect', () => {
      const raw = socket.getPeerX509Certificate()?.raw;
      done(raw ? Date.parse(new X509Certificate(raw).validFrom) : undefined);
    });
    socket.once('error', () => done(undefined));
  });
}

function minutes(ms: number): string {
  const total = Math.round(ms / 1000);
  return total >= 120 ? `${Math.round(total / 60)} min` : `${total} s`;
}

/** The CLOCK_SKEW error naming how far this host's clock is behind the control plane's, at least. */
export function clockSkewError(context: string, address: string, notBefore: number, now: number): SigilError {
  const skew = notBefore - now;
  return new SigilError(
    ErrorCode.CLOCK_SKEW,
    `${context}: the control plane at ${address} presents a certificate valid from ${new Date(notBefore).toISOString()}, ${minutes(skew)} after this host's clock (${new Date(now).toISOString()}): this clock is at least ${minutes(skew)} behind the control plane's; fix time synchronisation (NTP) on both hosts`,
    { details: { address, skewMs: skew } },
  );
}
