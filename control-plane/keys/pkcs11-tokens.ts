import { ErrorCode, SigilError } from '../../common/errors.ts';
import { Pkcs11Token } from './pkcs11-token.ts';

/** Which token, as ca.json records it: by label (preferred) or by slot index. */
export interface Pkcs11TokenLocation {
  readonly label?: string;
  readonly slot?: number;
}

export interface Pkcs11TokensOptions {
  /** The user PIN of the CA's token(s). Never logged. */
  readonly pin?: string;
  /** The PIN of the root's token when it differs (a separate offline-root token); defaults to `pin`. */
  readonly rootPin?: string;
  readonly maxSessions?: number;
}

/**
 * The PKCS#11 tokens one process has open, shared: loading the CA again (rotation, an HA reload) reuses the logged-in
 * token instead of opening more sessions and logging in again. Built by a composition root, closed by it.
 */
export class Pkcs11Tokens {
  readonly #options: Pkcs11TokensOptions;
  readonly #open = new Map<string, Promise<Pkcs11Token>>();

  constructor(options: Pkcs11TokensOptions) {
    this.#options = options;
  }

  get hasPin(): boolean {
    return Boolean(this.#options.pin);
  }

  /** The token at `location` of library `modulePath`, logged in with the PIN for `role`. */
  open(modulePath: string, location: Pkcs11TokenLocation, role: 'root' | 'ca' = 'ca'): Promise<Pkcs11Token> {
    const key = JSON.stringify([modulePath, location.label ?? null, location.slot ?? null]);
    const existing = this.#open.get(key);
    if (existing) return existing;
    const pin = role === 'root' ? (this.#options.rootPin ?? this.#options.pin) : this.#options.pin;
    if (!pin) {
      return Promise.reject(
        new SigilError(
          ErrorCode.PKCS11_PIN,
          `the CA keys are in a PKCS#11 token${location.label ? ` ("${location.label}")` : ''}: set SIGIL_PKCS11_PIN, SIGIL_PKCS11_PIN_FILE or pass --pin-file`,
        ),
      );
    }
    const opening = Pkcs11Token.open({
      modulePath,
      pin,
      ...(location.label === undefined ? {} : { tokenLabel: location.label }),
      ...(location.slot === undefined ? {} : { slot: location.slot }),
      ...(this.#options.maxSessions === undefined ? {} : { maxSessions: this.#options.maxSessions }),
    });
    this.#open.set(key, opening);
    // A failed open is not cached: plugging the token in and trying again must work.
    opening.catch(() => this.#open.delete(key));
    return opening;
  }

  /** Closes one token (the offline root's, once it has signed), so it can be unplugged. */
  async closeOne(modulePath: string, location: Pkcs11TokenLocation): Promise<void> {
    const key = JSON.stringify([modulePath, location.label ?? null, location.slot ?? null]);
    const opening = this.#open.get(key);
    this.#open.delete(key);
    await opening?.then((token) => token.close()).catch(() => undefined);
  }

  async close(): Promise<void> {
    const all = [...this.#open.values()];
    this.#open.clear();
    await Promise.all(all.map((opening) => opening.then((token) => token.close()).catch(() => undefined)));
  }
}
