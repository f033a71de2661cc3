import { Counter, Gauge, Registry } from 'prom-client';
import type {
  ByteFlow,
  CloseReason,
  ProxyDirection,
  ProxyObserver,
  RefusalReason,
  SessionMode,
} from '../proxy/proxy-observer.ts';

/**
 * Values by label, kept as plain numbers on the data path and handed to prom-client when scraped: a labelled inc()
 * builds, validates and hashes its label set on every call, which the data path would pay per handshake, per
 * connection and per chunk. Cells are found by one or two nested map lookups on the label values as given (no key
 * string built per call: the mesh profile saw the joined key cost more than the count). `collect` gives a metric
 * exactly these values (reset, then one inc or set per label set).
 */
class DataPathCounts<L extends string> {
  readonly #names: readonly L[];
  readonly #cells = new Map<string, Map<string, { readonly labels: Record<L, string>; value: number }>>();

  constructor(names: readonly L[]) {
    if (names.length < 1 || names.length > 2) throw new Error('DataPathCounts takes one or two labels');
    this.#names = names;
  }

  /** Adds `n` to the cell of these label values (the second one is '' for a one-label metric). */
  add(n: number, first: string, second = ''): void {
    let inner = this.#cells.get(first);
    if (inner === undefined) {
      inner = new Map();
      this.#cells.set(first, inner);
    }
    const cell = inner.get(second);
    if (cell !== undefined) cell.value += n;
    else inner.set(second, { labels: this.#labelsOf(first, second), value: n });
  }

  #labelsOf(first: string, second: string): Record<L, string> {
    const values = [first, second];
    return Object.fromEntries(this.#names.map((name, i) => [name, values[i] ?? ''])) as Record<L, string>;
  }

  collect(): (this: Counter<L> | Gauge<L>) => void {
    const cells = this.#cells;
    return function collect(this: Counter<L> | Gauge<L>): void {
      this.reset();
      for (const inner of cells.values()) {
        for (const { labels, value } of inner.values()) {
          if (this instanceof Gauge) this.set(labels, value);
          else this.inc(labels, value);
        }
      }
    };
  }
}

/**
 * Bytes proxied, by direction and flow: added per chunk on the data path, so four plain numbers chosen by two
 * string comparisons (the callers pass the union's constants) rather than any keyed lookup.
 */
class ByteTotals {
  #inboundDown = 0;
  #inboundUp = 0;
  #outboundDown = 0;
  #outboundUp = 0;

  add(direction: ProxyDirection, flow: ByteFlow, n: number): void {
    const down = flow === 'downstream_to_upstream';
    if (direction === 'inbound') {
      if (down) this.#inboundDown += n;
      else this.#inboundUp += n;
    } else if (down) this.#outboundDown += n;
    else this.#outboundUp += n;
  }

  collect(): (this: Counter<'direction' | 'flow'>) => void {
    const totals = (): [ProxyDirection, ByteFlow, number][] => [
      ['inbound', 'downstream_to_upstream', this.#inboundDown],
      ['inbound', 'upstream_to_downstream', this.#inboundUp],
      ['outbound', 'downstream_to_upstream', this.#outboundDown],
      ['outbound', 'upstream_to_downstream', this.#outboundUp],
    ];
    return function collect(this: Counter<'direction' | 'flow'>): void {
      this.reset();
      for (const [direction, flow, value] of totals()) if (value > 0) this.inc({ direction, flow }, value);
    };
  }
}

/** The sidecar's Prometheus metrics on a registry of its own; also the data path's observer. */
export class SidecarMetrics implements ProxyObserver {
  readonly registry = new Registry();
  readonly #handshakes = new DataPathCounts(['direction', 'result'] as const);
  readonly #sessions = new DataPathCounts(['direction', 'mode'] as const);
  readonly #active = new DataPathCounts(['direction'] as const);
  readonly #closed = new DataPathCounts(['direction', 'reason'] as const);
  readonly #bytes = new ByteTotals();
  readonly #policyDecisions = new DataPathCounts(['decision', 'policy'] as const);
  readonly #refused = new Counter({
    name: 'sigil_connections_refused_total',
    help: 'Connections refused, by reason',
    labelNames: ['direction', 'reason'] as const,
    registers: [this.registry],
  });
  readonly svidNotAfter = new Gauge({
    name: 'sigil_svid_not_after_timestamp_seconds',
    help: 'Expiry of the SVID in use',
    registers: [this.registry],
  });
  readonly trustFetches = new Counter({
    name: 'sigil_trust_fetches_total',
    help: 'FetchTrust calls over gRPC by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly eventsReceived = new Counter({
    name: 'sigil_events_received_total',
    help: 'Event channel messages by kind and result (applied or drop reason)',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });
  readonly eventChannelConnected = new Gauge({
    name: 'sigil_event_channel_connected',
    help: '1 while connected to NATS',
    registers: [this.registry],
  });
  readonly revocationAge = new Gauge({
    name: 'sigil_revocation_state_age_seconds',
    help: 'Seconds since the revocation state was last refreshed (NATS or gRPC)',
    registers: [this.registry],
  });
  readonly closedByRevocation = new Counter({
    name: 'sigil_connections_closed_by_revocation_total',
    help: 'Live connections closed because their peer was revoked',
    registers: [this.registry],
  });
  readonly closedByPolicy = new Counter({
    name: 'sigil_connections_closed_by_policy_total',
    help: 'Live connections closed because a new policy version denies them',
    registers: [this.registry],
  });
  readonly rotationOrders = new Counter({
    name: 'sigil_rotation_orders_total',
    help: 'Rotation orders by result (scheduled, not-targeted, rotated, failed)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly renewals = new Counter({
    name: 'sigil_svid_renewals_total',
    help: 'SVID issuance attempts by path (attest, renew) and result (ok or error code)',
    labelNames: ['via', 'result'] as const,
    registers: [this.registry],
  });

  constructor() {
    const registers = [this.registry];
    new Counter({
      name: 'sigil_handshakes_total',
      help: 'TLS handshakes by direction and result (ok or refusal reason)',
      labelNames: ['direction', 'result'] as const,
      registers,
      collect: this.#handshakes.collect(),
    });
    new Counter({
      name: 'sigil_tls_sessions_total',
      help: 'Authorised TLS sessions by direction and mode (full handshake or resumed from a ticket)',
      labelNames: ['direction', 'mode'] as const,
      registers,
      collect: this.#sessions.collect(),
    });
    new Gauge({
      name: 'sigil_connections_active',
      help: 'Open proxied connections',
      labelNames: ['direction'] as const,
      registers,
      collect: this.#active.collect(),
    });
    new Counter({
      name: 'sigil_connections_closed_total',
      help: 'Proxied connections ended, by reason',
      labelNames: ['direction', 'reason'] as const,
      registers,
      collect: this.#closed.collect(),
    });
    new Counter({
      name: 'sigil_policy_decisions_total',
      help: 'Inbound allow-policy decisions by decision and policy',
      labelNames: ['decision', 'policy'] as const,
      registers,
      collect: this.#policyDecisions.collect(),
    });
    new Counter({
      name: 'sigil_bytes_total',
      help: 'Bytes proxied',
      labelNames: ['direction', 'flow'] as const,
      registers,
      collect: this.#bytes.collect(),
    });
  }

  handshake(direction: ProxyDirection, outcome: 'ok' | RefusalReason): void {
    this.#handshakes.add(1, direction, outcome);
  }

  session(direction: ProxyDirection, mode: SessionMode): void {
    this.#sessions.add(1, direction, mode);
  }

  refused(direction: ProxyDirection, reason: RefusalReason): void {
    this.#refused.inc({ direction, reason });
  }

  connectionOpened(direction: ProxyDirection): void {
    this.#active.add(1, direction);
  }

  connectionClosed(direction: ProxyDirection, reason: CloseReason): void {
    this.#active.add(-1, direction);
    this.#closed.add(1, direction, reason);
  }

  bytes(direction: ProxyDirection, flow: ByteFlow, n: number): void {
    this.#bytes.add(direction, flow, n);
  }

  /** One inbound allow-policy decision (per connection: counted like the data path's metrics). */
  policyDecision(decision: string, policy: string): void {
    this.#policyDecisions.add(1, decision, policy);
  }

  async render(ages?: { revocationAgeMs: number }): Promise<{ contentType: string; body: string }> {
    if (ages) this.revocationAge.set(Number.isFinite(ages.revocationAgeMs) ? ages.revocationAgeMs / 1000 : -1);
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
