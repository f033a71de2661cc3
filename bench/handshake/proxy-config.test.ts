import t from 'tap';
import { haproxyConfig } from './haproxy-config.ts';
import { nginxConfig, nginxOutboundConfig, streamModuleKind } from './nginx-config.ts';
import { selectTargets } from './target-registry.ts';

const files = {
  dir: '/tmp/x y',
  listenPort: 8443,
  upstreamPort: 9000,
  certChainPath: '/tmp/x y/svid.pem',
  keyPath: '/tmp/x y/key.pem',
  bundlePath: '/tmp/x y/bundle.pem',
};

t.test(
  'nginx: one worker, TLS 1.3 only, client certificate required against the bundle, proxied to the app',
  async (t) => {
    const config = nginxConfig({ ...files, streamModulePath: '/usr/lib/nginx/modules/ngx_stream_module.so' });
    t.match(config, /^load_module "\/usr\/lib\/nginx\/modules\/ngx_stream_module\.so";\n/);
    t.match(config, /\nworker_processes 1;\n/);
    t.match(config, /\ndaemon off;\n/);
    t.match(config, /listen 127\.0\.0\.1:8443 ssl;/);
    t.match(config, /ssl_certificate "\/tmp\/x y\/svid\.pem";/, 'paths quoted: a temp dir may hold spaces');
    t.match(config, /ssl_certificate_key "\/tmp\/x y\/key\.pem";/);
    t.match(config, /ssl_client_certificate "\/tmp\/x y\/bundle\.pem";/);
    t.match(config, /ssl_verify_client on;/);
    t.match(config, /ssl_protocols TLSv1\.3;/);
    t.match(config, /proxy_pass 127\.0\.0\.1:9000;/);
    t.match(config, /pid "\/tmp\/x y\/nginx\.pid";/);
    t.notMatch(
      nginxConfig({ ...files, streamModulePath: undefined }),
      /load_module/,
      'a built-in stream module is not loaded',
    );
  },
);

t.test('nginx logs $ssl_session_reused per connection only when asked', async (t) => {
  const config = nginxConfig({ ...files, streamModulePath: undefined, sessionLogPath: '/tmp/x y/sessions.log' });
  t.match(config, /log_format sessions '\$ssl_session_reused';\n {2}access_log "\/tmp\/x y\/sessions\.log" sessions;/);
  t.notMatch(nginxConfig({ ...files, streamModulePath: undefined }), /access_log/);
});

t.test('nginx outbound: plain in, TLS 1.3 out with the client SVID, session reuse as asked', async (t) => {
  const input = { ...files, streamModulePath: undefined, sessionReuse: true };
  const config = nginxOutboundConfig(input);
  t.match(config, /listen 127\.0\.0\.1:8443;/);
  t.notMatch(config, /listen [^;]* ssl;/, 'the client side speaks plain TCP');
  t.match(config, /proxy_pass 127\.0\.0\.1:9000;/);
  t.match(config, /proxy_ssl on;/);
  t.match(config, /proxy_ssl_protocols TLSv1\.3;/);
  t.match(config, /proxy_ssl_certificate "\/tmp\/x y\/svid\.pem";/);
  t.match(config, /proxy_ssl_certificate_key "\/tmp\/x y\/key\.pem";/);
  t.match(config, /proxy_ssl_session_reuse on;/);
  t.match(nginxOutboundConfig({ ...input, sessionReuse: false }), /proxy_ssl_session_reuse off;/);
});

t.test('nginx -V tells whether the stream module is built in, dynamic or absent', async (t) => {
  t.equal(streamModuleKind('configure arguments: --with-stream=dynamic --with-stream_ssl_module'), 'dynamic');
  t.equal(streamModuleKind('configure arguments: --with-stream --with-stream_ssl_module'), 'builtin');
  t.equal(streamModuleKind('configure arguments: --with-http_ssl_module --with-stream_ssl_module'), 'absent');
});

t.test('HAProxy: one thread, TCP mode, verify required against the bundle, TLS 1.3 only, one backend', async (t) => {
  const config = haproxyConfig({
    dir: files.dir,
    listenPort: 8443,
    upstreamPort: 9000,
    certAndKeyPath: '/tmp/x y/svid-and-key.pem',
    bundlePath: files.bundlePath,
  });
  t.match(config, /\n {2}nbthread 1\n/);
  t.match(config, /\n {2}mode tcp\n/);
  t.match(
    config,
    /bind 127\.0\.0\.1:8443 ssl crt "\/tmp\/x y\/svid-and-key\.pem" ca-file "\/tmp\/x y\/bundle\.pem" verify required ssl-min-ver TLSv1\.3\n/,
  );
  t.match(config, /server app 127\.0\.0\.1:9000\n/);
  t.match(config, /timeout client \d+s/, 'no timeout would make HAProxy warn at start');
});

t.test('targets are chosen by name, in the comparison order, and an unknown name is refused', async (t) => {
  t.same(
    selectTargets('nginx,sigil-sidecar').map((x) => x.name),
    ['sigil-sidecar', 'nginx'],
  );
  t.throws(() => selectTargets('nginx,envoy'), { code: 'SIGIL_ERR_INVALID_ARGUMENT' });
  t.throws(() => selectTargets(''), { code: 'SIGIL_ERR_INVALID_ARGUMENT' });
});
