import t from 'tap';
import { sessionsFromMetrics, sessionsFromNginxLog } from './session-counts.ts';

t.test('sidecar sessions come from sigil_tls_sessions_total of one direction', async (t) => {
  const text = [
    '# HELP sigil_tls_sessions_total Authorised TLS sessions by direction and mode',
    '# TYPE sigil_tls_sessions_total counter',
    'sigil_tls_sessions_total{direction="outbound",mode="full"} 3',
    'sigil_tls_sessions_total{mode="resumed",direction="outbound"} 97',
    'sigil_tls_sessions_total{direction="inbound",mode="resumed"} 40',
    'sigil_handshakes_total{direction="outbound",result="ok"} 100',
    '',
  ].join('\n');
  t.same(sessionsFromMetrics(text, 'outbound'), { handshakes: 100, resumed: 97 }, 'labels in any order');
  t.same(sessionsFromMetrics(text, 'inbound'), { handshakes: 40, resumed: 40 });
  t.same(sessionsFromMetrics('sigil_handshakes_total{direction="outbound"} 5\n', 'outbound'), {
    handshakes: 0,
    resumed: 0,
  });
});

t.test('nginx sessions come from its $ssl_session_reused log, one line per connection', async (t) => {
  t.same(sessionsFromNginxLog('r\n.\nr\nr\n'), { handshakes: 4, resumed: 3 });
  t.same(sessionsFromNginxLog(''), { handshakes: 0, resumed: 0 });
  t.same(sessionsFromNginxLog('r\n-\n'), { handshakes: 1, resumed: 1 }, 'a line without TLS is no session');
});
