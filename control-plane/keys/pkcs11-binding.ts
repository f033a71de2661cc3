import { createRequire } from 'node:module';
import { ErrorCode, SigilError } from '../../common/errors.ts';

/**
 * The part of the `pkcs11js` binding Sigil uses, typed here rather than imported: the binding is an optional
 * dependency (a native add-on), so type-checking must not need it installed.
 */
export interface Pkcs11Attribute {
  readonly type: number;
  readonly value?: number | boolean | string | Buffer;
}
export interface Pkcs11TokenInfo {
  readonly label: string;
  readonly flags: number;
  readonly maxSessionCount: number;
  readonly maxRwSessionCount: number;
  readonly freePublicMemory?: number;
  readonly freePrivateMemory?: number;
}
export interface Pkcs11Api {
  load(path: string): void;
  C_Initialize(options?: { flags?: number }): void;
  C_Finalize(): void;
  C_GetSlotList(tokenPresent?: boolean): Buffer[];
  C_GetTokenInfo(slot: Buffer): Pkcs11TokenInfo;
  C_OpenSession(slot: Buffer, flags: number): Buffer;
  C_CloseSession(session: Buffer): void;
  C_Login(session: Buffer, userType: number, pin?: string): void;
  C_FindObjectsInit(session: Buffer, template: Pkcs11Attribute[]): void;
  C_FindObjects(session: Buffer, maxObjectCount: number): Buffer[];
  C_FindObjectsFinal(session: Buffer): void;
  C_GetAttributeValue(session: Buffer, object: Buffer, template: Pkcs11Attribute[]): Pkcs11Attribute[];
  C_GenerateKeyPair(
    session: Buffer,
    mechanism: { mechanism: number },
    publicTemplate: Pkcs11Attribute[],
    privateTemplate: Pkcs11Attribute[],
  ): { publicKey: Buffer; privateKey: Buffer };
  C_DestroyObject(session: Buffer, object: Buffer): void;
  C_SignInit(session: Buffer, mechanism: { mechanism: number }, key: Buffer): void;
  C_SignAsync(session: Buffer, data: Buffer, out: Buffer): Promise<Buffer>;
}

/** The module's exports: the PKCS11 class and the CK* constants by name. */
export interface Pkcs11Module {
  readonly PKCS11: new () => Pkcs11Api;
  readonly [constant: string]: unknown;
}

let cached: Pkcs11Module | undefined;

/**
 * Loads the binding on first use. When it is not installed (no compiler when `npm ci` ran, or installed with
 * `--omit=optional`), says so and what to do, instead of a bare MODULE_NOT_FOUND.
 */
export function loadPkcs11Binding(): Pkcs11Module {
  if (cached) return cached;
  try {
    cached = createRequire(import.meta.url)('pkcs11js') as Pkcs11Module;
  } catch (err) {
    throw new SigilError(
      ErrorCode.PKCS11_UNAVAILABLE,
      'the key store is pkcs11 but the PKCS#11 binding (npm package pkcs11js, a native add-on) is not installed: ' +
        'install a C++ compiler, make and python3, then run npm rebuild pkcs11js (or npm install pkcs11js)',
      { cause: err },
    );
  }
  return cached;
}

/** A CK* constant of the binding by name; a missing one is a broken binding, not bad input. */
export function ck(binding: Pkcs11Module, name: string): number {
  const value = binding[name];
  if (typeof value !== 'number') throw new Error(`pkcs11js has no constant ${name}`);
  return value;
}

/** The CKR_* name of a PKCS#11 error ('CKR_PIN_INCORRECT'), or undefined for anything else. */
export function pkcs11ErrorName(err: unknown): string | undefined {
  const message = err instanceof Error ? err.message : '';
  return /^(CKR_[A-Z0-9_]+)/.exec(message)?.[1];
}
