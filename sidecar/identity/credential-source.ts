import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { inspect } from 'node:util';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { parseSpiffeId } from '../../common/spiffe-id.ts';

/** One SVID with its key and the trust bundle it is verified against. */
export interface TlsMaterial {
  /** Leaf first, then intermediates (PEM). */
  readonly certChainPem: string;
  readonly keyPem: string;
  /** Trust anchors (roots) peers are verified against (PEM). */
  readonly bundlePem: string;
  readonly spiffeId: string;
  readonly serial: string;
  /** Epoch milliseconds. */
  readonly notAfter: number;
}

export interface MaterialDescription {
  readonly spiffeId: string;
  readonly serial: string;
  readonly notAfter: string;
}

/** The only way material should reach a log line or an error: no key, no PEM. */
export function describe(material: TlsMaterial): MaterialDescription {
  return {
    spiffeId: material.spiffeId,
    serial: material.serial,
    notAfter: Number.isFinite(material.notAfter)
      ? new Date(material.notAfter).toISOString()
      : String(material.notAfter),
  };
}

/** What `tls.Server#setSecureContext()` needs from the material; listeners add their protocol settings. */
export interface ServerContextOptions {
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
}

/** One published version of the credentials, with the TLS contexts already built from it. */
export interface Credentials {
  /** Increments with every accepted update, starting at 1. */
  readonly version: number;
  readonly material: TlsMaterial;
  /**
   * Options for inbound servers. Node's `tls.Server` builds its context from options (it takes no prebuilt
   * SecureContext), so each listener builds exactly one context per update from these.
   */
  readonly serverContextOptions: ServerContextOptions;
  /** Built once per update and shared by every outbound connection. Own SVID as client cert, CA = bundle. */
  readonly clientContext: SecureContext;
}

export type CredentialListener = (credentials: Credentials) => void;

/**
 * Protocol settings for the client context; pass `resolveClientTlsSettings()` from `sidecar/proxy/tls-settings.ts`
 * (protocol, suites and key-share groups).
 */
export type ClientTlsSettings = Readonly<
  Required<Pick<SecureContextOptions, 'minVersion' | 'maxVersion' | 'ciphers'>> &
    Pick<SecureContextOptions, 'ecdhCurve'>
>;

export interface CredentialSourceOptions {
  /**
   * Protocol settings of the shared client context. Required so that Node's default cipher list (which still
   * has CBC suites) can never be used by accident.
   */
  readonly clientTls: ClientTlsSettings;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

/**
 * Holds the current SVID and publishes every new one (the identity side publishes, the TLS side consumes).
 * `update()` validates by building the contexts first: if that fails it throws and the previous credentials
 * stay in force. Subscribers get the current credentials at once and then every accepted update.
 */
export class CredentialSource {
  readonly #clientTls: ClientTlsSettings;
  readonly #clock: Clock;
  readonly #logger: Logger | undefined;
  readonly #listeners = new Set<CredentialListener>();
  #current: Credentials | undefined;
  #version = 0;

  constructor(options: CredentialSourceOptions) {
    this.#clientTls = options.clientTls;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger;
  }

  get current(): Credentials | undefined {
    return this.#current;
  }

  /** Throws UNAVAILABLE when nothing has been published yet. */
  get clientContext(): SecureContext {
    return this.#require().clientContext;
  }

  get serverContextOptions(): ServerContextOptions {
    return this.#require().serverContextOptions;
  }

  update(material: TlsMaterial): Credentials {
    const sealed = seal(material);
    parseSpiffeId(sealed.spiffeId);
    if (!(sealed.notAfter > this.#clock.now())) {
      throw new SigilError(
        ErrorCode.SVID_EXPIRED,
        `refusing to serve an expired SVID (${fmt(sealed)}); renew it first`,
      );
    }
    let clientContext: SecureContext;
    try {
      clientContext = createSecureContext({
        key: sealed.keyPem,
        cert: sealed.certChainPem,
        ca: sealed.bundlePem,
        ...this.#clientTls,
      });
    } catch (cause) {
      throw new SigilError(
        ErrorCode.SVID_INVALID,
        `new TLS material (${fmt(sealed)}) is unusable: the key must match the leaf certificate and all PEM blocks ` +
          'must parse; the previous credentials stay in force',
        { cause },
      );
    }
    const credentials: Credentials = Object.freeze({
      version: ++this.#version,
      material: sealed,
      serverContextOptions: Object.freeze({ key: sealed.keyPem, cert: sealed.certChainPem, ca: sealed.bundlePem }),
      clientContext,
    });
    this.#current = credentials;
    for (const listener of this.#listeners) this.#deliver(listener, credentials);
    return credentials;
  }

  /**
   * Re-publishes the SVID in force with a new trust bundle (a root was added or retired). Material objects hide
   * their key from enumeration, so callers cannot rebuild them with a spread: this is the one way.
   */
  updateBundle(bundlePem: string): Credentials | undefined {
    const m = this.#current?.material;
    if (!m || m.bundlePem === bundlePem) return this.#current;
    return this.update({
      certChainPem: m.certChainPem,
      keyPem: m.keyPem,
      bundlePem,
      spiffeId: m.spiffeId,
      serial: m.serial,
      notAfter: m.notAfter,
    });
  }

  /**
   * Withdraws the credentials (the SVID expired and no renewal succeeded): listeners stop accepting and
   * originating connections until the next `update()`, so an expired SVID is never presented.
   */
  clear(reason: string): void {
    if (!this.#current) return;
    this.#logger?.warn(
      { credentials: describe(this.#current.material), reason },
      'credentials withdrawn; refusing new connections until an SVID is renewed',
    );
    this.#current = undefined;
  }

  /** Calls `listener` with the current credentials (if any) right away, then on every update. */
  subscribe(listener: CredentialListener): () => void {
    this.#listeners.add(listener);
    if (this.#current) this.#deliver(listener, this.#current);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  #deliver(listener: CredentialListener, credentials: Credentials): void {
    try {
      listener(credentials);
    } catch (err) {
      // One broken consumer must not keep the others on old credentials.
      this.#logger?.error({ err, credentials: describe(credentials.material) }, 'credential subscriber failed');
    }
  }

  #require(): Credentials {
    if (!this.#current) {
      throw new SigilError(ErrorCode.UNAVAILABLE, 'no SVID has been published yet; wait for attestation to complete');
    }
    return this.#current;
  }
}

function fmt(m: TlsMaterial): string {
  const d = describe(m);
  return `${d.spiffeId} serial ${d.serial} notAfter ${d.notAfter}`;
}

/** A frozen copy whose key is non-enumerable and whose JSON / inspect forms are `describe()`. */
function seal(m: TlsMaterial): TlsMaterial {
  for (const field of ['certChainPem', 'keyPem', 'bundlePem', 'spiffeId', 'serial'] as const) {
    if (typeof m[field] !== 'string' || m[field] === '') {
      throw new SigilError(ErrorCode.SVID_INVALID, `TLS material field ${field} is missing or empty`);
    }
  }
  const copy = {
    certChainPem: m.certChainPem,
    bundlePem: m.bundlePem,
    spiffeId: m.spiffeId,
    serial: m.serial,
    notAfter: m.notAfter,
    toJSON: () => describe(m),
    [inspect.custom]: () => describe(m),
  };
  Object.defineProperty(copy, 'keyPem', { value: m.keyPem, enumerable: false });
  Object.defineProperty(copy, 'toJSON', { enumerable: false });
  return Object.freeze(copy) as unknown as TlsMaterial;
}
