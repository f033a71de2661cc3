import t from 'tap';
import { SidecarMetrics } from './sidecar-metrics.ts';

const line = (body: string, name: string) =>
  body
    .split('\n')
    .filter((l) => l.startsWith(name))
    .sort();

t.test(
  'data-path counts reach the exposition at scrape time, as totals that do not double on a second scrape',
  async (t) => {
    const metrics = new SidecarMetrics();
    metrics.handshake('inbound', 'ok');
    metrics.handshake('inbound', 'ok');
    metrics.handshake('inbound', 'invalid_svid');
    metrics.connectionOpened('inbound');
    metrics.connectionOpened('inbound');
    metrics.connectionClosed('inbound', 'done');
    metrics.bytes('inbound', 'downstream_to_upstream', 100);
    metrics.bytes('inbound', 'downstream_to_upstream', 28);
    for (let scrape = 1; scrape <= 2; scrape++) {
      const { body } = await metrics.render();
      t.same(
        line(body, 'sigil_handshakes_total{'),
        [
          'sigil_handshakes_total{direction="inbound",result="invalid_svid"} 1',
          'sigil_handshakes_total{direction="inbound",result="ok"} 2',
        ],
        `scrape ${scrape}`,
      );
      t.same(
        line(body, 'sigil_connections_active{'),
        ['sigil_connections_active{direction="inbound"} 1'],
        `scrape ${scrape}`,
      );
      t.same(
        line(body, 'sigil_connections_closed_total{'),
        ['sigil_connections_closed_total{direction="inbound",reason="done"} 1'],
        `scrape ${scrape}`,
      );
      t.same(
        line(body, 'sigil_bytes_total{'),
        ['sigil_bytes_total{direction="inbound",flow="downstream_to_upstream"} 128'],
        `scrape ${scrape}`,
      );
    }
  },
);

t.test('a connection closed after a scrape lowers the active gauge at the next one', async (t) => {
  const metrics = new SidecarMetrics();
  metrics.connectionOpened('outbound');
  t.match((await metrics.render()).body, /sigil_connections_active\{direction="outbound"\} 1\n/);
  metrics.connectionClosed('outbound', 'idle_timeout');
  t.match((await metrics.render()).body, /sigil_connections_active\{direction="outbound"\} 0\n/);
});
