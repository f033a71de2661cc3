import { readFile } from 'node:fs/promises';
import {
  connect,
  credsAuthenticator,
  nkeyAuthenticator,
  Events,
  type ConnectionOptions,
  type NatsConnection,
} from 'nats';
import type { Clock, Timer } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { eventKindOf, fitForChannel, type SigilEvent } from '../../common/events/sigil-event.ts';
import { signEvent, type EventSigner } from '../../common/events/signed-event.ts';
import { type EventKind, eventSubject, eventWildcard, parseEventSubject } from '../../common/events/subjects.ts';
import { LogField, type Logger } from '../../common/logger.ts';
import type { Store } from '../store/store.ts';
import type { EventPublisher } from './event-publisher.ts';

export interface NatsEventPublisherOptions {
  readonly servers: readonly string[];
  readonly trustDomain: string;
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string };
  /** A NATS .creds file (JWT + nkey seed). */
  readonly credentialsFile?: string;
  /** Or a file holding an nkey user seed (SU…). */
  readonly nkeySeedFile?: string;
  /** Connection name shown by the server's monitoring. */
  readonly name?: string;
  /** Pause between connection attempts, first connect and reconnects alike. Default 2000. */
  readonly reconnectWaitMs?: number;
  /** Events kept while the first connection is not up yet; older ones are dropped first. Default 256. */
  readonly maxPendingEvents?: number;
}

export interface NatsEventPublisherDeps {
  readonly store: Store;
  /** The control plane's current serving SVID and key; asked for every event, as it rotates. */
  readonly signer: () => EventSigner;
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * With several replicas: the cluster lock one kind's events are numbered and sent under, so sequences reach NATS
   * in order whichever replica sends them; and a hook for events the other replicas sent (this replica reloads
   * what they changed). Defaults: a single control plane.
   */
  readonly exclusive?: <T>(kind: EventKind, fn: () => Promise<T>) => Promise<T>;
  readonly onOthersEvent?: (kind: EventKind) => void;
}

/** How long a send under the cluster lock waits for the server's acknowledgement before letting the next go. */
const ORDERED_FLUSH_MS = 2000;
/** How long close() lets drain() flush before closing the connection regardless. */
const DRAIN_LIMIT_MS = 2000;
/** Recently sent messages, to tell this replica's own events from the others' when they come back. */
const OWN_MEMORY = 64;

export type EventChannelStatus = 'connected' | 'disconnected' | 'closed';
export type EventChannelStatusListener = (status: EventChannelStatus) => void;

/**
 * EventPublisher over NATS core publish.
 *
 * NATS is not a single point of failure: `start()` resolves whether or not a server is up. Until the first
 * connection succeeds, attempts repeat every `reconnectWaitMs` on the injected clock (cancellable by `close()`,
 * which the client's own `waitOnFirstConnect` would not be), and published events wait in a bounded queue.
 * Once connected, the client reconnects forever (`maxReconnectAttempts: -1`) and buffers publishes made while
 * disconnected in memory (nats.js behaviour), flushing them on reconnect. Events lost either way are recovered by
 * subscribers through FetchTrust, so publish() never blocks on NATS.
 */
export class NatsEventPublisher implements EventPublisher {
  readonly #options: NatsEventPublisherOptions;
  readonly #deps: NatsEventPublisherDeps;
  readonly #listeners = new Set<EventChannelStatusListener>();
  readonly #pending: { subject: string; data: Uint8Array }[] = [];
  readonly #own: string[] = [];
  #nc: NatsConnection | undefined;
  #connected = false;
  #closed = false;
  #retry: Timer | undefined;
  #connectOptions: ConnectionOptions | undefined;
  /** Serialises publish(): sequences are allocated and published in call order. */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(options: NatsEventPublisherOptions, deps: NatsEventPublisherDeps) {
    if (options.servers.length === 0)
      throw new SigilError(ErrorCode.CONFIG_INVALID, 'nats.servers is empty: list at least one nats:// URL');
    this.#options = options;
    this.#deps = deps;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Calls `listener` on every status change; returns the unsubscribe function. */
  onStatus(listener: EventChannelStatusListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Reads the credentials file (throws CONFIG_INVALID if unreadable) and starts connecting in the background. */
  async start(): Promise<void> {
    const o = this.#options;
    let authenticator: ConnectionOptions['authenticator'];
    if (o.credentialsFile !== undefined && o.nkeySeedFile !== undefined) {
      throw new SigilError(
        ErrorCode.CONFIG_INVALID,
        'nats.credentialsFile and nats.nkeySeedFile are both set: give one (a .creds file already holds its nkey)',
      );
    }
    if (o.nkeySeedFile !== undefined) authenticator = await nkeySeedAuthenticator(o.nkeySeedFile);
    if (o.credentialsFile !== undefined) {
      try {
        authenticator = credsAuthenticator(new Uint8Array(await readFile(o.credentialsFile)));
      } catch (cause) {
        throw new SigilError(
          ErrorCode.CONFIG_INVALID,
          `cannot read the NATS credentials file ${o.credentialsFile}: check nats.credentialsFile`,
          { cause },
        );
      }
    }
    this.#connectOptions = {
      servers: [...o.servers],
      name: o.name ?? 'sigil-control-plane',
      maxReconnectAttempts: -1,
      reconnectTimeWait: o.reconnectWaitMs ?? 2000,
      ...(o.tls ? { tls: { ...o.tls } } : {}),
      ...(authenticator ? { authenticator } : {}),
    };
    void this.#attempt();
  }

  publish(event: SigilEvent): Promise<{ readonly sequence: number }> {
    const run = this.#tail.then(() => this.#publishNow(event));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#retry?.cancel();
    await this.#tail;
    const nc = this.#nc;
    this.#nc = undefined;
    this.#pending.length = 0;
    if (nc) {
      // drain() flushes what is buffered; a disconnected client cannot, so it is closed instead. A server that stops
      // answering mid-drain would keep drain() (and so the stopping process) waiting, hence the bound.
      if (this.#connected) {
        let timer: Timer | undefined;
        await Promise.race([
          nc.drain().catch(() => undefined),
          new Promise<void>((resolve) => {
            timer = this.#deps.clock.setTimer(DRAIN_LIMIT_MS, resolve);
          }),
        ]);
        timer?.cancel();
      }
      if (!nc.isClosed()) await nc.close().catch(() => undefined);
    }
    this.#setStatus('closed');
  }

  async #publishNow(event: SigilEvent): Promise<{ readonly sequence: number }> {
    if (this.#closed) throw new SigilError(ErrorCode.UNAVAILABLE, 'the event publisher is closed');
    const kind = eventKindOf(event);
    const exclusive = this.#deps.exclusive;
    if (!exclusive) return this.#send(kind, event);
    return exclusive(kind, async () => {
      const sent = await this.#send(kind, event);
      // The next replica's event of this kind must not overtake this one: wait for the server to have it.
      if (this.#nc && this.#connected) {
        await Promise.race([
          this.#nc.flush().catch(() => undefined),
          new Promise<void>((resolve) => this.#deps.clock.setTimer(ORDERED_FLUSH_MS, resolve)),
        ]);
      }
      return sent;
    });
  }

  async #send(kind: EventKind, event: SigilEvent): Promise<{ readonly sequence: number }> {
    const { store, clock, signer } = this.#deps;
    // Allocated before publishing: a crash after this point skips a number, never reuses one.
    const sequence = await store.nextSequence(`event.${kind}`);
    const data = await signEvent({
      // Over NATS' message limit (a large policy set, an identity with many certificates) the event goes out in its
      // partial form and sidecars fetch the state over gRPC: publishing never fails for size.
      event: fitForChannel(event),
      trustDomain: this.#options.trustDomain,
      sequence,
      issuedAt: clock.now(),
      signer: signer(),
    });
    const subject = eventSubject(this.#options.trustDomain, kind);
    if (this.#deps.onOthersEvent) {
      this.#own.push(Buffer.from(data).toString('base64'));
      if (this.#own.length > OWN_MEMORY) this.#own.shift();
    }
    if (this.#nc) {
      this.#nc.publish(subject, data);
    } else {
      this.#pending.push({ subject, data });
      const max = this.#options.maxPendingEvents ?? 256;
      if (this.#pending.length > max) this.#pending.splice(0, this.#pending.length - max);
    }
    this.#deps.logger.debug({ kind, sequence, queued: this.#nc === undefined }, 'event published');
    return { sequence };
  }

  async #attempt(): Promise<void> {
    if (this.#closed || !this.#connectOptions) return;
    let nc: NatsConnection;
    try {
      nc = await connect(this.#connectOptions);
    } catch (err) {
      if (this.#closed) return;
      const wait = this.#options.reconnectWaitMs ?? 2000;
      this.#deps.logger.warn(
        { [LogField.reason]: (err as Error).message, retryInMs: wait },
        'event channel: cannot reach NATS yet; events wait, subscribers use FetchTrust',
      );
      this.#retry = this.#deps.clock.setTimer(wait, () => void this.#attempt());
      return;
    }
    if (this.#closed) {
      await nc.close().catch(() => undefined);
      return;
    }
    this.#nc = nc;
    this.#listenToOthers(nc);
    for (const m of this.#pending.splice(0)) nc.publish(m.subject, m.data);
    this.#deps.logger.info({ server: nc.getServer() }, 'event channel connected to NATS');
    this.#setStatus('connected');
    void this.#watch(nc);
  }

  /** Any event on our subjects that this replica did not send tells it to reload that kind from the store. */
  #listenToOthers(nc: NatsConnection): void {
    const hook = this.#deps.onOthersEvent;
    if (!hook) return;
    nc.subscribe(eventWildcard(this.#options.trustDomain), {
      callback: (err, msg) => {
        if (err) return;
        if (this.#own.includes(Buffer.from(msg.data).toString('base64'))) return;
        const kind = parseEventSubject(msg.subject)?.kind;
        if (kind) hook(kind);
      },
    });
  }

  async #watch(nc: NatsConnection): Promise<void> {
    const { logger } = this.#deps;
    for await (const s of nc.status()) {
      if (s.type === Events.Disconnect) {
        logger.warn({ server: String(s.data) }, 'event channel disconnected from NATS; reconnecting');
        this.#setStatus('disconnected');
      } else if (s.type === Events.Reconnect) {
        logger.info({ server: String(s.data) }, 'event channel reconnected to NATS');
        this.#setStatus('connected');
      } else if (s.type === Events.Error) {
        logger.error({ [LogField.reason]: String(s.data) }, 'event channel: NATS reported an error');
      } else {
        logger.debug({ type: s.type, data: typeof s.data === 'object' ? undefined : s.data }, 'event channel status');
      }
    }
  }

  #setStatus(status: EventChannelStatus): void {
    const connected = status === 'connected';
    if (this.#connected === connected && status !== 'closed') return;
    this.#connected = connected;
    for (const listener of this.#listeners) listener(status);
  }
}

/** Reads an nkey user seed; CONFIG_INVALID names the file, never its content. */
async function nkeySeedAuthenticator(path: string): Promise<ConnectionOptions['authenticator']> {
  let seed: string;
  try {
    seed = (await readFile(path, 'utf8')).trim();
  } catch (cause) {
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      `cannot read the NATS nkey seed file ${path}: check nats.nkeySeedFile`,
      {
        cause,
      },
    );
  }
  if (!/^SU[A-Z2-7]{56}$/.test(seed)) {
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      `${path} does not hold an nkey user seed (SU…): check nats.nkeySeedFile (nk -gen user)`,
    );
  }
  return nkeyAuthenticator(new TextEncoder().encode(seed));
}
