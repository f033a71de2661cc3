import { createHash, createPublicKey, randomBytes, type webcrypto } from 'node:crypto';
import * as asn1js from 'asn1js';
import { ErrorCode, isSigilError, SigilError } from '../../common/errors.ts';
import { keyTypeOfSpki } from '../../common/key-pair.ts';
import type { KeyType } from '../../common/key-type.ts';
import { type DigestName, nodeDigestName } from '../signing/oids.ts';
import type { SignatureEncoding, SigningKey } from '../signing/signing-key.ts';
import { ecdsaRawToDer } from './ecdsa-signature.ts';
import {
  ck,
  loadPkcs11Binding,
  type Pkcs11Api,
  type Pkcs11Attribute,
  type Pkcs11Module,
  pkcs11ErrorName,
} from './pkcs11-binding.ts';
import { acquireModule, findSlot, login, poolSize, releaseModule, safely } from './pkcs11-module.ts';
import { SessionPool } from './session-pool.ts';

export interface Pkcs11TokenOptions {
  /** Path of the PKCS#11 library (e.g. /usr/lib/softhsm/libsofthsm2.so). */
  readonly modulePath: string;
  /** The token's label; or `slot`, the index among slots holding a token. One of the two. */
  readonly tokenLabel?: string;
  readonly slot?: number;
  /** The user PIN. Never logged or put in an error. */
  readonly pin: string;
  /** Upper bound on concurrent sessions (default 8); lowered to what the token allows. */
  readonly maxSessions?: number;
}

/** Where a key lives in the token: what ca.json records, never key material. `id` is CKA_ID in hex. */
export interface Pkcs11KeyRef {
  readonly label: string;
  readonly id: string;
}

/** One object of the token, for audits (`no private key ever left the token`) and tests. */
export interface Pkcs11ObjectInfo {
  readonly class: 'private' | 'public' | 'secret' | 'certificate' | 'other';
  readonly label: string;
  readonly id: string;
  /** Private and secret keys only. */
  readonly sensitive?: boolean;
  readonly extractable?: boolean;
  readonly alwaysSensitive?: boolean;
  readonly neverExtractable?: boolean;
}

const EC_CURVE_OIDS: Readonly<Partial<Record<KeyType, string>>> = {
  'ec-p256': '1.2.840.10045.3.1.7',
  'ec-p384': '1.3.132.0.34',
};
const JWK_CURVES: Readonly<Record<number, string>> = { 32: 'P-256', 48: 'P-384', 66: 'P-521' };
const RSA_BITS: Readonly<Partial<Record<KeyType, number>>> = { 'rsa-2048': 2048, 'rsa-3072': 3072, 'rsa-4096': 4096 };

/**
 * A logged-in PKCS#11 token. Keys it generates are non-extractable and sensitive: they sign inside the token and
 * never exist outside it. Signing runs on a pool of sessions sized to the token, off the event loop.
 */
export class Pkcs11Token {
  readonly description: string;
  readonly #binding: Pkcs11Module;
  readonly #api: Pkcs11Api;
  readonly #modulePath: string;
  readonly #pool: SessionPool<Buffer>;
  /** Buffers a native signing call is using: see sign(). */
  readonly #inFlight = new Set<Buffer>();
  #closed = false;

  private constructor(
    binding: Pkcs11Module,
    api: Pkcs11Api,
    modulePath: string,
    pool: SessionPool<Buffer>,
    label: string,
  ) {
    this.#binding = binding;
    this.#api = api;
    this.#modulePath = modulePath;
    this.#pool = pool;
    this.description = `PKCS#11 token "${label}"`;
  }

  /**
   * Loads the library, finds the token and logs in once. Each failure is a clear SigilError: PKCS11_UNAVAILABLE (no
   * binding), PKCS11_MODULE (not a PKCS#11 library), PKCS11_TOKEN (absent, not initialised), PKCS11_PIN (wrong or
   * locked PIN). A wrong PIN is tried exactly once, and a PIN on its final try is not tried at all, so a
   * misconfigured service cannot lock the token by restarting.
   */
  static async open(options: Pkcs11TokenOptions): Promise<Pkcs11Token> {
    if (!options.pin) {
      throw new SigilError(ErrorCode.PKCS11_PIN, 'no PKCS#11 PIN was given: set SIGIL_PKCS11_PIN or --pin-file');
    }
    const binding = loadPkcs11Binding();
    const api = acquireModule(binding, options.modulePath);
    let sessions: Buffer[] = [];
    try {
      const { slot, info } = findSlot(binding, api, options);
      const label = info.label.trim();
      const userPinFlags = ck(binding, 'CKF_USER_PIN_LOCKED') | ck(binding, 'CKF_USER_PIN_FINAL_TRY');
      if ((info.flags & userPinFlags) !== 0) {
        throw new SigilError(
          ErrorCode.PKCS11_PIN,
          `the user PIN of PKCS#11 token "${label}" is locked or on its final try: Sigil will not spend it; reset the PIN with the token's SO tools`,
        );
      }
      const size = poolSize(options.maxSessions ?? 8, info.maxSessionCount);
      const flags = ck(binding, 'CKF_SERIAL_SESSION') | ck(binding, 'CKF_RW_SESSION');
      sessions = Array.from({ length: size }, () => api.C_OpenSession(slot, flags));
      login(binding, api, sessions[0]!, options.pin, label);
      const pool = new SessionPool(sessions);
      return new Pkcs11Token(binding, api, options.modulePath, pool, label);
    } catch (err) {
      for (const session of sessions) safely(() => api.C_CloseSession(session));
      releaseModule(options.modulePath);
      throw err;
    }
  }

  /** Generates a key pair in the token: private half sensitive, non-extractable, sign-only. */
  async generateKeyPair(keyType: KeyType, label: string): Promise<{ ref: Pkcs11KeyRef; key: SigningKey }> {
    const b = this.#binding;
    const id = randomBytes(16);
    const common: Pkcs11Attribute[] = [
      { type: ck(b, 'CKA_TOKEN'), value: true },
      { type: ck(b, 'CKA_LABEL'), value: label },
      { type: ck(b, 'CKA_ID'), value: id },
    ];
    const curve = EC_CURVE_OIDS[keyType];
    const bits = RSA_BITS[keyType];
    const publicTemplate: Pkcs11Attribute[] = [
      ...common,
      { type: ck(b, 'CKA_CLASS'), value: ck(b, 'CKO_PUBLIC_KEY') },
      { type: ck(b, 'CKA_VERIFY'), value: true },
      ...(curve
        ? [{ type: ck(b, 'CKA_EC_PARAMS'), value: Buffer.from(new asn1js.ObjectIdentifier({ value: curve }).toBER()) }]
        : [
            { type: ck(b, 'CKA_MODULUS_BITS'), value: bits ?? 0 },
            { type: ck(b, 'CKA_PUBLIC_EXPONENT'), value: Buffer.from([1, 0, 1]) },
          ]),
    ];
    const privateTemplate: Pkcs11Attribute[] = [
      ...common,
      { type: ck(b, 'CKA_CLASS'), value: ck(b, 'CKO_PRIVATE_KEY') },
      { type: ck(b, 'CKA_PRIVATE'), value: true },
      { type: ck(b, 'CKA_SENSITIVE'), value: true },
      { type: ck(b, 'CKA_EXTRACTABLE'), value: false },
      { type: ck(b, 'CKA_SIGN'), value: true },
    ];
    const mechanism = { mechanism: ck(b, curve ? 'CKM_EC_KEY_PAIR_GEN' : 'CKM_RSA_PKCS_KEY_PAIR_GEN') };
    await this.#pool.use(async (session) => {
      try {
        this.#api.C_GenerateKeyPair(session, mechanism, publicTemplate, privateTemplate);
      } catch (err) {
        throw tokenError(err, `generating a ${keyType} key "${label}" in ${this.description}`);
      }
    });
    const ref = { label, id: id.toString('hex') };
    return { ref, key: await this.openKey(ref) };
  }

  /**
   * The key `ref` names, as a SigningKey. Found by CKA_ID (or by label when the ref has no id); its public half
   * comes from the token's public-key object, or from `publicKeySpki` (the certificate's) for tokens that keep none.
   * PKCS11_KEY when it is missing, ambiguous or of a type Sigil does not sign with.
   */
  async openKey(ref: Partial<Pkcs11KeyRef>, publicKeySpki?: Uint8Array): Promise<SigningKey> {
    const what = ref.id ? `id ${ref.id}` : `label "${ref.label}"`;
    const [privateKey, publicKey] = await this.#pool.use(async (session) => [
      this.#find(session, 'CKO_PRIVATE_KEY', ref),
      this.#find(session, 'CKO_PUBLIC_KEY', ref),
    ]);
    if (privateKey.length !== 1) {
      throw new SigilError(
        ErrorCode.PKCS11_KEY,
        privateKey.length === 0
          ? `${this.description} holds no private key with ${what}: check the key label/id (sigil ca show lists them), or that this is the right token`
          : `${this.description} holds ${privateKey.length} private keys with ${what}: name the key by its id`,
      );
    }
    let spki = publicKeySpki;
    if (spki === undefined) {
      if (publicKey.length !== 1)
        throw new SigilError(ErrorCode.PKCS11_KEY, `${this.description} holds no single public key with ${what}`);
      spki = await this.#pool.use(async (session) => this.#publicSpki(session, publicKey[0]!));
    }
    let keyType: KeyType;
    try {
      keyType = keyTypeOfSpki(spki);
    } catch (err) {
      throw new SigilError(
        ErrorCode.PKCS11_KEY,
        `the key with ${what} in ${this.description} is of a type Sigil does not sign with (${isSigilError(err) ? err.message : 'unreadable'}): use an EC P-256/P-384 or RSA ≥ 2048 key`,
        { cause: err },
      );
    }
    return this.#signingKey(privateKey[0]!, keyType, spki, `${this.description} key "${ref.label ?? ref.id}"`);
  }

  /** Every object on the token with the attributes that tell whether a private key could ever have left it. */
  async listObjects(): Promise<Pkcs11ObjectInfo[]> {
    const b = this.#binding;
    return this.#pool.use(async (session) => {
      const classes: Record<number, Pkcs11ObjectInfo['class']> = {
        [ck(b, 'CKO_PRIVATE_KEY')]: 'private',
        [ck(b, 'CKO_PUBLIC_KEY')]: 'public',
        [ck(b, 'CKO_SECRET_KEY')]: 'secret',
        [ck(b, 'CKO_CERTIFICATE')]: 'certificate',
      };
      return this.#findAll(session, []).map((handle) => {
        const [cls, label, id] = this.#api.C_GetAttributeValue(session, handle, [
          { type: ck(b, 'CKA_CLASS') },
          { type: ck(b, 'CKA_LABEL') },
          { type: ck(b, 'CKA_ID') },
        ]);
        const kind = classes[(cls!.value as Buffer).readUInt32LE(0)] ?? 'other';
        const base = {
          class: kind,
          label: String(label!.value ?? ''),
          id: Buffer.from(id!.value as Buffer).toString('hex'),
        };
        if (kind !== 'private' && kind !== 'secret') return base;
        const flags = this.#api
          .C_GetAttributeValue(session, handle, [
            { type: ck(b, 'CKA_SENSITIVE') },
            { type: ck(b, 'CKA_EXTRACTABLE') },
            { type: ck(b, 'CKA_ALWAYS_SENSITIVE') },
            { type: ck(b, 'CKA_NEVER_EXTRACTABLE') },
          ])
          .map((a) => (a.value as Buffer)[0] === 1);
        return {
          ...base,
          sensitive: flags[0]!,
          extractable: flags[1]!,
          alwaysSensitive: flags[2]!,
          neverExtractable: flags[3]!,
        };
      });
    });
  }

  /** Removes both halves of a key pair (undoing a `ca init` that failed after generating keys). */
  async destroyKey(ref: Pkcs11KeyRef): Promise<void> {
    await this.#pool.use(async (session) => {
      for (const handle of [
        ...this.#find(session, 'CKO_PRIVATE_KEY', ref),
        ...this.#find(session, 'CKO_PUBLIC_KEY', ref),
      ])
        this.#api.C_DestroyObject(session, handle);
    });
  }

  /** Closes the sessions (logging out) once in-flight signatures finish; the library is finalised with its last token. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const sessions = await this.#pool.drain();
    for (const session of sessions) safely(() => this.#api.C_CloseSession(session));
    releaseModule(this.#modulePath);
  }

  #find(session: Buffer, cls: string, ref: Partial<Pkcs11KeyRef>): Buffer[] {
    const b = this.#binding;
    const template: Pkcs11Attribute[] = [{ type: ck(b, 'CKA_CLASS'), value: ck(b, cls) }];
    if (ref.id) template.push({ type: ck(b, 'CKA_ID'), value: Buffer.from(ref.id, 'hex') });
    else if (ref.label) template.push({ type: ck(b, 'CKA_LABEL'), value: ref.label });
    else throw new SigilError(ErrorCode.PKCS11_KEY, 'a PKCS#11 key needs a label or an id');
    return this.#findAll(session, template);
  }

  #findAll(session: Buffer, template: Pkcs11Attribute[]): Buffer[] {
    this.#api.C_FindObjectsInit(session, template);
    try {
      const found: Buffer[] = [];
      for (
        let batch = this.#api.C_FindObjects(session, 64);
        batch.length > 0;
        batch = this.#api.C_FindObjects(session, 64)
      )
        found.push(...batch);
      return found;
    } finally {
      this.#api.C_FindObjectsFinal(session);
    }
  }

  /** The DER SPKI of a public-key object, rebuilt through a JWK so node:crypto does the encoding. */
  #publicSpki(session: Buffer, handle: Buffer): Uint8Array {
    const b = this.#binding;
    const [keyTypeAttr] = this.#api.C_GetAttributeValue(session, handle, [{ type: ck(b, 'CKA_KEY_TYPE') }]);
    const kind = (keyTypeAttr!.value as Buffer).readUInt32LE(0);
    let jwk: webcrypto.JsonWebKey;
    if (kind === ck(b, 'CKK_EC')) {
      const [point] = this.#api.C_GetAttributeValue(session, handle, [{ type: ck(b, 'CKA_EC_POINT') }]);
      const q = unwrapEcPoint(point!.value as Buffer);
      const size = (q.length - 1) / 2;
      jwk = {
        kty: 'EC',
        crv: JWK_CURVES[size] ?? `unknown-${size}`,
        x: q.subarray(1, 1 + size).toString('base64url'),
        y: q.subarray(1 + size).toString('base64url'),
      };
    } else if (kind === ck(b, 'CKK_RSA')) {
      const [n, e] = this.#api.C_GetAttributeValue(session, handle, [
        { type: ck(b, 'CKA_MODULUS') },
        { type: ck(b, 'CKA_PUBLIC_EXPONENT') },
      ]);
      jwk = {
        kty: 'RSA',
        n: (n!.value as Buffer).toString('base64url'),
        e: (e!.value as Buffer).toString('base64url'),
      };
    } else {
      throw new SigilError(ErrorCode.PKCS11_KEY, `${this.description} holds a key of type ${kind}: use EC or RSA`);
    }
    try {
      return new Uint8Array(createPublicKey({ key: jwk, format: 'jwk' }).export({ format: 'der', type: 'spki' }));
    } catch (err) {
      throw new SigilError(
        ErrorCode.PKCS11_KEY,
        `${this.description} holds a key Sigil cannot use (${jwk.crv ?? jwk.kty}): use P-256, P-384 or RSA`,
        {
          cause: err,
        },
      );
    }
  }

  #signingKey(handle: Buffer, keyType: KeyType, spki: Uint8Array, description: string): SigningKey {
    const b = this.#binding;
    const ec = keyType.startsWith('ec-');
    const rsaMechanisms: Record<DigestName, string> = {
      'SHA-256': 'CKM_SHA256_RSA_PKCS',
      'SHA-384': 'CKM_SHA384_RSA_PKCS',
      'SHA-512': 'CKM_SHA512_RSA_PKCS',
    };
    const sign = async (data: Uint8Array, digest: DigestName, encoding: SignatureEncoding = 'der') => {
      if (this.#closed) throw new SigilError(ErrorCode.PKCS11_TOKEN, `${this.description} is closed`);
      // ECDSA in the token signs a digest made here (CKM_ECDSA): hashing is public work, and not every token
      // offers CKM_ECDSA_SHA384. RSA uses the token's combined hash-and-sign mechanism.
      const input = ec ? createHash(nodeDigestName(digest)).update(data).digest() : Buffer.from(data);
      const mechanism = { mechanism: ck(b, ec ? 'CKM_ECDSA' : rsaMechanisms[digest]) };
      const signature = await this.#pool.use(async (session) => {
        // pkcs11js's async call keeps raw pointers to both buffers without holding them: they must stay reachable
        // from JavaScript until it completes, or the garbage collector frees them under the token (a crash seen
        // here under load).
        const out = Buffer.alloc(1024);
        this.#inFlight.add(input).add(out);
        try {
          this.#api.C_SignInit(session, mechanism, handle);
          return Buffer.from(await this.#api.C_SignAsync(session, input, out));
        } catch (err) {
          throw tokenError(err, `signing with ${description}`);
        } finally {
          this.#inFlight.delete(input);
          this.#inFlight.delete(out);
        }
      });
      const raw = new Uint8Array(signature);
      return ec && encoding === 'der' ? ecdsaRawToDer(raw) : raw;
    };
    return Object.freeze({ keyType, publicKeySpki: spki, description, sign, toJSON: () => ({ keyType, description }) });
  }
}

function unwrapEcPoint(value: Buffer): Buffer {
  // CKA_EC_POINT is a DER OCTET STRING around the point, though some tokens return the bare point.
  const parsed = asn1js.fromBER(Uint8Array.from(value));
  if (parsed.offset === value.length && parsed.result instanceof asn1js.OctetString)
    return Buffer.from(parsed.result.valueBlock.valueHexView);
  return value;
}

function tokenError(err: unknown, what: string): SigilError {
  const name = pkcs11ErrorName(err);
  const hint =
    name === 'CKR_DEVICE_MEMORY'
      ? 'the token is full: free space on it or use another token'
      : name === 'CKR_DEVICE_REMOVED' || name === 'CKR_TOKEN_NOT_PRESENT'
        ? 'the token was removed: plug it back in'
        : `the token refused (${name ?? 'unknown error'})`;
  return new SigilError(ErrorCode.PKCS11_TOKEN, `${what}: ${hint}`, { cause: err });
}
