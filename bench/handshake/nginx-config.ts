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
  /** When set, one line per connection with `$ssl_session_reused` (`r` resumed, `.` full): the mesh benchmark's count. */
  readonly sessionLogPath?: string;
}

const quote = (path: string) => JSON.stringify(path);

/**
 * An nginx configuration with one worker that terminates TLS 1.3 with a required, verified client certificate and
 * proxies the stream to the app: the same work as the sidecar's inbound listener minus SPIFFE ID, revocation and
 * policy. Session tickets stay on (nginx's default), so resumed handshakes are measured like for the other servers.
 */
export function nginxConfig(input: NginxConfigInput): string {
  return [
    ...preamble(input),
    'stream {',
    ...(input.sessionLogPath
      ? ["  log_format sessions '$ssl_session_reused';", `  access_log ${quote(input.sessionLogPath)} sessions;`]
      : []),
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

function preamble(input: { dir: string; streamModulePath: string | undefined }): string[] {
  return [
    ...(input.streamModulePath ? [`load_module ${quote(input.streamModulePath)};`] : []),
    'daemon off;',
    'worker_processes 1;',
    `pid ${quote(`${input.dir}/nginx.pid`)};`,
    `error_log ${quote(`${input.dir}/error.log`)} warn;`,
    'events { worker_connections 4096; }',
  ];
}

/** What the client side of an nginx mesh pair needs: plain TCP in, mTLS out to the inbound nginx. */
export interface NginxOutboundConfigInput {
  readonly dir: string;
  readonly listenPort: number;
  /** The inbound nginx, reached over mTLS. */
  readonly upstreamPort: number;
  /** The client SVID chain (leaf first) and its key, presented upstream. */
  readonly certChainPath: string;
  readonly keyPath: string;
  readonly bundlePath: string;
  /** `proxy_ssl_session_reuse`: offer the session of an earlier connection (nginx's default is on). */
  readonly sessionReuse: boolean;
  readonly streamModulePath: string | undefined;
}

/**
 * An nginx configuration with one worker that accepts plain TCP and originates TLS 1.3 to the inbound nginx with a
 * client certificate (`proxy_ssl` of the stream module, the counterpart of `proxy_pass https://` for raw TCP).
 * `proxy_ssl_verify` stays off: nginx checks the upstream's name only against DNS SANs and the subject CN, and an
 * SVID carries neither (its identity is a URI SAN), so verification would refuse every SVID. The chain goes
 * unchecked, which spares nginx two signature verifications per full handshake: its figures are a lower bound.
 */
export function nginxOutboundConfig(input: NginxOutboundConfigInput): string {
  return [
    ...preamble(input),
    'stream {',
    '  server {',
    `    listen 127.0.0.1:${input.listenPort};`,
    `    proxy_pass 127.0.0.1:${input.upstreamPort};`,
    '    proxy_ssl on;',
    '    proxy_ssl_protocols TLSv1.3;',
    `    proxy_ssl_certificate ${quote(input.certChainPath)};`,
    `    proxy_ssl_certificate_key ${quote(input.keyPath)};`,
    `    proxy_ssl_trusted_certificate ${quote(input.bundlePath)};`,
    '    proxy_ssl_verify off;',
    `    proxy_ssl_session_reuse ${input.sessionReuse ? 'on' : 'off'};`,
    '    tcp_nodelay on;',
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
