/** What an nginx or HAProxy baseline needs to terminate mTLS on loopback and proxy to the app. */
export interface ProxyConfigInput {
  /** Scratch directory for the pid file and logs. */
  readonly dir: string;
  readonly listenPort: number;
  readonly upstreamPort: number;
  /** The server SVID chain (leaf first) and its key, the same files the other targets serve. */
  readonly certChainPath: string;
  readonly keyPath: string;
  /** Client certificates are verified against this bundle. */
  readonly bundlePath: string;
}

export interface NginxConfigInput extends ProxyConfigInput {
  /** `load_module` path when nginx was built with a dynamic stream module (Debian), undefined when built in. */
  readonly streamModulePath: string | undefined;
}

const quote = (path: string) => JSON.stringify(path);

/**
 * An nginx configuration with one worker that terminates TLS 1.3 with a required, verified client certificate and
 * proxies the stream to the app: the same work as the sidecar's inbound listener minus SPIFFE ID, revocation and
 * policy. Session tickets stay on (nginx's default), so resumed handshakes are measured like for the other servers.
 */
export function nginxConfig(input: NginxConfigInput): string {
  return [
    ...(input.streamModulePath ? [`load_module ${quote(input.streamModulePath)};`] : []),
    'daemon off;',
    'worker_processes 1;',
    `pid ${quote(`${input.dir}/nginx.pid`)};`,
    `error_log ${quote(`${input.dir}/error.log`)} warn;`,
    'events { worker_connections 4096; }',
    'stream {',
    '  server {',
    `    listen 127.0.0.1:${input.listenPort} ssl;`,
    `    ssl_certificate ${quote(input.certChainPath)};`,
    `    ssl_certificate_key ${quote(input.keyPath)};`,
    `    ssl_client_certificate ${quote(input.bundlePath)};`,
    '    ssl_verify_client on;',
    // leaf, the signing CA it sent, the root from the bundle
    '    ssl_verify_depth 3;',
    '    ssl_protocols TLSv1.3;',
    '    ssl_session_tickets on;',
    '    tcp_nodelay on;',
    `    proxy_pass 127.0.0.1:${input.upstreamPort};`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/**
 * Where `nginx -V` output says the stream module is: 'builtin', 'dynamic' (needs `load_module`) or 'absent'.
 */
export function streamModuleKind(nginxVersionOutput: string): 'builtin' | 'dynamic' | 'absent' {
  if (/--with-stream=dynamic(\s|$)/.test(nginxVersionOutput)) return 'dynamic';
  if (/--with-stream(\s|$)/.test(nginxVersionOutput)) return 'builtin';
  return 'absent';
}
