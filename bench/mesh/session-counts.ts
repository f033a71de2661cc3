import type { TlsHandshakeCounts } from '../handshake/go-proxy-process.ts';

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * TLS sessions a Sigil sidecar established in `direction`, from its Prometheus text (`sigil_tls_sessions_total`
 * by direction and mode `full` or `resumed`). A sidecar without the metric reports zero of both.
 */
export function sessionsFromMetrics(text: string, direction: 'inbound' | 'outbound'): TlsHandshakeCounts {
  let full = 0;
  let resumed = 0;
  for (const line of text.split('\n')) {
    const match = SAMPLE.exec(line.trim());
    if (match === null) continue;
    const [, name, labelText = '', valueText] = match;
    if (name !== 'sigil_tls_sessions_total') continue;
    const labels = new Map([...labelText.matchAll(LABEL)].map((m) => [m[1], m[2]]));
    const value = Number(valueText);
    if (labels.get('direction') !== direction || !Number.isFinite(value)) continue;
    if (labels.get('mode') === 'resumed') resumed += value;
    else if (labels.get('mode') === 'full') full += value;
  }
  return { handshakes: full + resumed, resumed };
}

/** Sessions from an nginx stream log of `$ssl_session_reused`, one line per connection: `r` resumed, `.` full. */
export function sessionsFromNginxLog(text: string): TlsHandshakeCounts {
  let handshakes = 0;
  let resumed = 0;
  for (const line of text.split('\n')) {
    const value = line.trim();
    if (value === 'r') resumed++;
    else if (value !== '.') continue;
    handshakes++;
  }
  return { handshakes, resumed };
}
