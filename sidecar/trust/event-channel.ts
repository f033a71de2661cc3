import { connect, Events, type NatsConnection } from 'nats';
import type { Clock, Timer } from '../../common/clock.ts';
import { eventKindOf, type SigilEvent } from '../../common/events/sigil-event.ts';
import { acceptEnvelope } from '../../common/events/signed-event.ts';
import { eventSubject, parseEventSubject, SIDECAR_EVENT_KINDS, type EventKind } from '../../common/events/subjects.ts';
import { LogField, type Logger } from '../../common/logger.ts';
import { RateLimiter } from '../proxy/rate-limiter.ts';
import { EventVerifier, type VerifierResult } from './event-verifier.ts';
import type { NatsAuth } from './nats-auth.ts';

export interface EventChannelOptions {
  readonly servers: readonly string[];
  readonly trustDomain: string;
  readonly reconnectWaitMs?: number;
  readonly name?: string;
  /** How to authenticate to NATS (readNatsAuth); absent: anonymous. */
  readonly auth?: NatsAuth;
  /** Messages awaiting verification before new ones are dropped as 'queue-full' (default 256). */
  readonly maxQueuedEvents?: number;
}

/** What the envelope said about a verified event. */
export interface EventMeta {
  readonly kind: EventKind;
  readonly sequence: number;
  /** ms since epoch, as claimed by the verified signer: publish-to-applied latency is now minus this. */
  readonly issuedAt: number;
}

export interface EventChannelDeps {
  /** The current bundle's roots: what signer chains must validate to. */
  readonly roots: () => readonly Uint8Array[];
  /** Verified events, in order; a throwing handler is logged and does not stop the channel. */
  readonly onEvent: (event: SigilEvent, meta: EventMeta) => void;
  /** Connected (first time or again) or disconnected: the sidecar catches up over gRPC on reconnect. */
  readonly onStatus: (connected: boolean, first: boolean) => void;
  /** Every message, by kind and result ('applied' or the rejection reason). */
  readonly onReceived: (kind: string, result: string) => void;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * A forged-event flood must not starve the data path: each forged chain costs signature checks (the real one is
 * cached), so a few new chains per second and subject are validated, and all verification runs on a worker thread.
 */
const NEW_CHAINS_PER_SUBJECT_PER_SECOND = 4;

/**
 * The subscribing end of the signed event channel. Every message is verified (signer chains to the current bundle,
 * is the control plane, signature, trust domain, sequence newer than the last applied of its kind) before a handler
 * sees it; anything else is dropped and counted by reason. The costly part runs on a worker (EventVerifier) behind a
 * bounded queue: a flood is dropped unread as 'queue-full' and the NATS callback stays cheap, so the socket is read as
 * fast as the server writes and the sidecar is never cut off as a slow consumer. Results come back in arrival order;
 * the sequence check and the handler run here, in that order. NATS being down only delays events: the sidecar keeps
 * serving and converges over gRPC.
 */
export class EventChannel {
  readonly #options: EventChannelOptions;
  readonly #deps: EventChannelDeps;
  readonly #lastSequence = new Map<EventKind, number>();
  readonly #verifier: EventVerifier;
  readonly #dropLogs: RateLimiter;
  #nc: NatsConnection | undefined;
  #retry: Timer | undefined;
  #closed = false;
  #connected = false;

  constructor(options: EventChannelOptions, deps: EventChannelDeps) {
    this.#options = options;
    this.#deps = deps;
    this.#dropLogs = new RateLimiter({ clock: deps.clock, limit: 5, windowMs: 1000 });
    this.#verifier = new EventVerifier({
      trustDomain: options.trustDomain,
      newChainsPerSubjectPerSecond: NEW_CHAINS_PER_SUBJECT_PER_SECOND,
      ...(options.maxQueuedEvents === undefined ? {} : { maxQueued: options.maxQueuedEvents }),
    });
  }

  get connected(): boolean {
    return this.#connected;
  }

  /**
   * Starts connecting in the background, once the verifier's worker is ready (what is published before that is
   * caught up over gRPC like any outage); never fails because NATS is down.
   */
  start(): void {
    void this.#verifier.start().then(() => this.#attempt());
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#retry?.cancel();
    const nc = this.#nc;
    this.#nc = undefined;
    if (nc) await nc.close().catch(() => undefined);
    await this.#verifier.close();
    this.#connected = false;
  }

  async #attempt(): Promise<void> {
    if (this.#closed) return;
    const wait = this.#options.reconnectWaitMs ?? 2000;
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: [...this.#options.servers],
        name: this.#options.name ?? 'sigil-sidecar',
        maxReconnectAttempts: -1,
        reconnectTimeWait: wait,
        ...this.#options.auth,
      });
    } catch (err) {
      if (this.#closed) return;
      this.#deps.logger.warn(
        { [LogField.reason]: (err as Error).message, retryInMs: wait },
        'event channel: cannot reach NATS; trust stays fresh over gRPC meanwhile',
      );
      this.#retry = this.#deps.clock.setTimer(wait, () => void this.#attempt());
      return;
    }
    if (this.#closed) return void (await nc.close().catch(() => undefined));
    this.#nc = nc;
    // One subscription per kind the sidecar acts on (not the trust domain's wildcard): kinds meant for operators'
    // tooling (alerts) are never delivered here, so they cost the sidecar nothing and are not counted as dropped.
    for (const kind of SIDECAR_EVENT_KINDS) {
      nc.subscribe(eventSubject(this.#options.trustDomain, kind), {
        callback: (err, msg) => {
          if (!err) this.#receive(msg.subject, msg.data);
        },
      });
    }
    this.#setConnected(true, true);
    this.#deps.logger.info({ server: nc.getServer() }, 'event channel connected to NATS');
    void this.#watch(nc);
  }

  async #watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === Events.Disconnect) {
        this.#deps.logger.warn({ server: String(s.data) }, 'event channel disconnected from NATS; reconnecting');
        this.#setConnected(false, false);
      } else if (s.type === Events.Reconnect) {
        this.#deps.logger.info({ server: String(s.data) }, 'event channel reconnected to NATS; catching up over gRPC');
        this.#setConnected(true, false);
      }
    }
  }

  #setConnected(connected: boolean, first: boolean): void {
    if (this.#connected === connected && !first) return;
    this.#connected = connected;
    this.#deps.onStatus(connected, first);
  }

  /** The NATS callback: only queues (or drops), so reading the socket never waits for verification. */
  #receive(subject: string, data: Uint8Array): void {
    const queued = this.#verifier.submit(subject, data, this.#deps.roots(), this.#deps.clock.now(), (result) =>
      this.#verified(subject, result),
    );
    if (!queued) this.#dropped(subject, 'queue-full', 'the verification queue is full; dropped unread');
  }

  #verified(subject: string, verified: VerifierResult): void {
    if (this.#closed) return;
    const result = verified.ok ? acceptEnvelope(verified, (kind) => this.#lastSequence.get(kind) ?? 0) : verified;
    if (!result.ok) {
      this.#dropped(subject, result.reason, 'detail' in result ? result.detail : undefined);
      return;
    }
    this.#lastSequence.set(result.kind, result.sequence);
    this.#deps.onReceived(result.kind, 'applied');
    try {
      this.#deps.onEvent(result.event, {
        kind: eventKindOf(result.event),
        sequence: result.sequence,
        issuedAt: result.issuedAt,
      });
    } catch (err) {
      this.#deps.logger.error({ err, kind: result.kind }, 'event handler failed');
    }
  }

  #dropped(subject: string, reason: string, detail: string | undefined): void {
    this.#deps.onReceived(parseEventSubject(subject)?.kind ?? 'unknown', reason);
    const decision = this.#dropLogs.take(reason);
    if (decision.allowed) {
      this.#deps.logger.warn(
        { [LogField.reason]: reason, subject, detail, suppressed: decision.suppressed },
        'event dropped',
      );
    }
  }
}
