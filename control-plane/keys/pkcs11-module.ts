import { ErrorCode, SigilError } from '../../common/errors.ts';
import { ck, type Pkcs11Api, type Pkcs11Module, pkcs11ErrorName } from './pkcs11-binding.ts';

/**
 * Loading a PKCS#11 library, finding the token and logging in: the steps where configuration goes wrong, each with
 * its own clear error. PKCS#11 is initialised once per process and library, so tokens of one library share it and
 * the last one closed finalises it.
 */

export interface TokenSelector {
  readonly modulePath: string;
  readonly tokenLabel?: string;
  readonly slot?: number;
}

interface LoadedModule {
  readonly api: Pkcs11Api;
  refs: number;
}
/**
 * PKCS#11 is initialised once per process and library: tokens of one library share it, the last close finalises.
 * A loaded library is never dropped: pkcs11js unloads it (dlclose) when its object is garbage-collected, and a
 * library such as SoftHSM2 must not be unloaded from under the process, so the object is kept and initialised again
 * when a token of it is opened later.
 */
const modules = new Map<string, LoadedModule>();

export function acquireModule(binding: Pkcs11Module, modulePath: string): Pkcs11Api {
  const known = modules.get(modulePath);
  if (known && known.refs > 0) {
    known.refs += 1;
    return known.api;
  }
  const api = known?.api ?? new binding.PKCS11();
  try {
    if (!known) api.load(modulePath);
    // Signing runs on libuv's thread pool, so several threads call into the library at once: PKCS#11 requires
    // saying so (CKF_OS_LOCKING_OK); without it a library may assume a single thread.
    api.C_Initialize({ flags: ck(binding, 'CKF_OS_LOCKING_OK') });
  } catch (err) {
    if (pkcs11ErrorName(err) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
      throw new SigilError(
        ErrorCode.PKCS11_MODULE,
        `${modulePath} cannot be loaded as a PKCS#11 library (${pkcs11ErrorName(err) ?? 'not a PKCS#11 module, or missing'}): check --pkcs11-module / pkcs11.module`,
        { cause: err },
      );
    }
  }
  modules.set(modulePath, { api, refs: 1 });
  return api;
}

export function releaseModule(modulePath: string): void {
  const loaded = modules.get(modulePath);
  if (!loaded || loaded.refs === 0) return;
  loaded.refs -= 1;
  if (loaded.refs > 0) return;
  safely(() => loaded.api.C_Finalize());
}

export function findSlot(binding: Pkcs11Module, api: Pkcs11Api, options: TokenSelector) {
  const initialised = ck(binding, 'CKF_TOKEN_INITIALIZED');
  const slots = api
    .C_GetSlotList(true)
    .map((slot) => ({ slot, info: api.C_GetTokenInfo(slot) }))
    .filter((s) => (s.info.flags & initialised) !== 0);
  const labels = slots.map((s) => `"${s.info.label.trim()}"`).join(', ') || 'none';
  if (options.tokenLabel !== undefined) {
    const matching = slots.filter((s) => s.info.label.trim() === options.tokenLabel);
    if (matching.length === 1) return matching[0]!;
    throw new SigilError(
      ErrorCode.PKCS11_TOKEN,
      matching.length === 0
        ? `no PKCS#11 token labelled "${options.tokenLabel}" is present in ${options.modulePath} (tokens present: ${labels}): plug it in, or check --pkcs11-token`
        : `${matching.length} tokens are labelled "${options.tokenLabel}": name the slot with --pkcs11-slot instead`,
    );
  }
  const found = options.slot === undefined ? undefined : slots[options.slot];
  if (found) return found;
  throw new SigilError(
    ErrorCode.PKCS11_TOKEN,
    options.slot === undefined
      ? 'name the PKCS#11 token by label (--pkcs11-token) or slot index (--pkcs11-slot)'
      : `there is no token in slot index ${options.slot} of ${options.modulePath} (tokens present: ${labels})`,
  );
}

export function login(binding: Pkcs11Module, api: Pkcs11Api, session: Buffer, pin: string, label: string): void {
  try {
    api.C_Login(session, ck(binding, 'CKU_USER'), pin);
  } catch (err) {
    const name = pkcs11ErrorName(err);
    if (name === 'CKR_USER_ALREADY_LOGGED_IN') return;
    const hint =
      name === 'CKR_PIN_INCORRECT'
        ? 'the PIN is wrong: fix SIGIL_PKCS11_PIN or the PIN file; Sigil tried it once and will not retry'
        : name === 'CKR_PIN_LOCKED'
          ? 'the PIN is locked: reset it with the token SO tools'
          : `login failed (${name ?? 'unknown error'})`;
    throw new SigilError(ErrorCode.PKCS11_PIN, `PKCS#11 token "${label}": ${hint}`, { cause: err });
  }
}

/** CK_EFFECTIVELY_INFINITE (0) and CK_UNAVAILABLE_INFORMATION (all ones) mean "no limit we know of". */
export function poolSize(wanted: number, tokenMax: number): number {
  const limit = tokenMax > 0 && tokenMax < 0xffff_ffff ? tokenMax : Number.POSITIVE_INFINITY;
  return Math.max(1, Math.min(wanted, limit));
}

export function safely(action: () => void): void {
  try {
    action();
  } catch {
    // Closing down: the token may already be gone; nothing more to undo.
  }
}
