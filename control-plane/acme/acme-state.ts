import type { Store } from '../store/store.ts';
import type { AriWindow, ChosenAriTime } from './renewal-schedule.ts';

/** A certificate the CA issued for a declared name, as far as renewal needs to know it. */
export interface IssuedFacts {
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** RFC 9773 identifier, for renewalInfo and `replaces`. */
  readonly certId: string;
  readonly orderUrl: string;
  readonly issuedAt: number;
}

/** Per declared certificate, kept in the store so a restarted (or another) control plane carries on. */
export interface AcmeCertificateState {
  /** The certificate in service. */
  readonly current?: IssuedFacts;
  /** Issued and staged, not yet in service because installing or reloading failed: retried without a new order. */
  readonly pending?: IssuedFacts;
  readonly ari?: {
    readonly window?: AriWindow;
    readonly chosen?: ChosenAriTime;
    readonly explanationUrl?: string;
    readonly nextCheckAt: number;
  };
  readonly failures: number;
  readonly lastFailureAt?: number;
  readonly lastError?: { readonly code: string; readonly message: string };
  readonly retryAfterAt?: number;
  readonly revoked?: { readonly serial: string; readonly at: number; readonly reason: string };
  /** An expiry alert is open for this certificate (raised once, resolved by a successful renewal). */
  readonly alerting?: boolean;
}

export const EMPTY_STATE: AcmeCertificateState = { failures: 0 };

const key = (name: string) => `acme.cert.${name}`;

export class AcmeStateStore {
  readonly #store: Pick<Store, 'getMeta' | 'setMeta'>;

  constructor(store: Pick<Store, 'getMeta' | 'setMeta'>) {
    this.#store = store;
  }

  async get(name: string): Promise<AcmeCertificateState> {
    const text = await this.#store.getMeta(key(name));
    return text === undefined ? EMPTY_STATE : (JSON.parse(text) as AcmeCertificateState);
  }

  async set(name: string, state: AcmeCertificateState): Promise<void> {
    await this.#store.setMeta(key(name), JSON.stringify(state));
  }
}
