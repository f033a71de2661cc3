import type { Server } from 'node:tls';
import type { Clock } from '../../common/clock.ts';
import type { Logger } from '../../common/logger.ts';
import { TicketKeyRotator } from './ticket-key-rotator.ts';
import { resolveServerSessionSettings, type ServerSessionSettings } from './tls-settings.ts';

export interface ServerResumptionOptions {
  /** Issue TLS 1.3 session tickets. */
  readonly resumption: boolean;
  /** Ticket key lifetime, and so the longest a ticket is valid. */
  readonly ticketKeyRotationMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * The inbound listener's side of session resumption: ticket settings for the server's contexts, and ticket keys
 * that rotate on a schedule and whenever the trust bundle changes. Node's setSecureContext() draws new ticket keys
 * unless given some, so a renewal of our own SVID passes the current keys on (the peers that hold tickets are
 * unchanged), while a new bundle gets new keys: a session accepted under one bundle is never resumed under another.
 */
export class ServerResumption {
  readonly settings: ServerSessionSettings;
  readonly #options: ServerResumptionOptions;
  #rotator: TicketKeyRotator | undefined;
  #server: Server | undefined;
  #bundlePem = '';

  constructor(options: ServerResumptionOptions) {
    this.#options = options;
    this.settings = resolveServerSessionSettings({
      resumption: options.resumption,
      ticketLifetimeMs: options.ticketKeyRotationMs,
    });
  }

  /** Starts the key schedule of a server created with `settings`. */
  start(server: Server, bundlePem: string): void {
    this.#server = server;
    this.#bundlePem = bundlePem;
    if (!this.#options.resumption) return;
    this.#rotator = new TicketKeyRotator({
      target: server,
      intervalMs: this.settings.sessionTimeout * 1000,
      clock: this.#options.clock,
      logger: this.#options.logger,
    });
    this.#rotator.start();
  }

  /** What to spread into setSecureContext() for material with this bundle, next to the credentials. */
  contextOptionsFor(bundlePem: string): ServerSessionSettings & { readonly ticketKeys?: Buffer } {
    const keep = this.#rotator && this.#server && bundlePem === this.#bundlePem;
    return keep ? { ...this.settings, ticketKeys: (this.#server as Server).getTicketKeys() } : this.settings;
  }

  /** Call once setSecureContext() accepted material with this bundle. */
  applied(bundlePem: string): void {
    if (bundlePem === this.#bundlePem) return;
    this.#bundlePem = bundlePem;
    this.#rotator?.rotate('trust bundle changed');
  }

  /** A resumption restores a certificate but not its validity check, which OpenSSL runs on full handshakes only. */
  expired(notAfter: number): boolean {
    return !(notAfter > this.#options.clock.now());
  }

  stop(): void {
    this.#rotator?.stop();
  }
}
