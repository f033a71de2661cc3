import type { ProxyConfigInput } from './nginx-config.ts';

export interface HaproxyConfigInput extends Omit<ProxyConfigInput, 'certChainPath' | 'keyPath'> {
  /** HAProxy reads the chain and its key from one PEM file (mode 0600). */
  readonly certAndKeyPath: string;
}

const quote = (path: string) => JSON.stringify(path);

/**
 * An HAProxy configuration with one thread, TCP mode, terminating TLS 1.3 with a required, verified client
 * certificate and forwarding to the app: the HAProxy counterpart of nginxConfig. Session tickets are on by default.
 */
export function haproxyConfig(input: HaproxyConfigInput): string {
  return [
    'global',
    '  nbthread 1',
    '  maxconn 4096',
    `  pidfile ${quote(`${input.dir}/haproxy.pid`)}`,
    '',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 30s',
    '  timeout server 30s',
    '',
    'frontend bench',
    `  bind 127.0.0.1:${input.listenPort} ssl crt ${quote(input.certAndKeyPath)} ca-file ${quote(input.bundlePath)} verify required ssl-min-ver TLSv1.3`,
    '  default_backend app',
    '',
    'backend app',
    `  server app 127.0.0.1:${input.upstreamPort}`,
    '',
  ].join('\n');
}
