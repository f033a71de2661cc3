import { createPublicKey, generateKeyPairSync, KeyObject, type webcrypto } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import type { Clock } from '../../common/clock.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import type { JwtBundleKey } from '../../common/jwt-svid.ts';
import type { Logger } from '../../common/logger.ts';
import { parseWorkloadId } from '../../common/spiffe-id.ts';
import { decodePrivateKeyPem, privateKeyPem } from '../ca/key-file.ts';
import { replaceFile } from '../ca/replace-file.ts';
import type { Pkcs11Token } from '../keys/pkcs11-token.ts';
import type { SigningKey } from '../signing/signing-key.ts';

/** Where the JWT signing keys live, relative to the CA data dir; part of the CA state replicas share. */
export const JWT_KEYS_FILE = 'jwt/keys.json';

/**
 * jose, loaded when a key is made or a JWT-SVID minted: a control plane whose keys exist and that mints none (most of
 * them, most of the time) keeps its 2 MB out of memory (docs/benchmarks.md, Footprint).
 */
const jose = () => import('jose');

export const JWT_ALGORITHMS = ['ES256', 'RS256'] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

/** Audiences per token and characters per audience: bounds on what a caller can make the CA sign. */
const MAX_AUDIENCES = 16;
const MAX_AUDIENCE_LENGTH = 512;

const storedKeySchema = z
  .strictObject({
    kid: z.string().min(1),
    alg: z.enum(JWT_ALGORITHMS),
    /** active: signs; next: published, signs after activation; previous: published until retire. */
    state: z.enum(['active', 'next', 'previous']),
    createdAt: z.iso.datetime(),
    publicJwk: z.record(z.string(), z.unknown()),
    /** Encrypted PKCS#8 PEM (the CA passphrase), like the CA keys of the file key store. */
    privateKeyPem: z.string().includes('ENCRYPTED PRIVATE KEY').optional(),
    /** Where the key is in the CA's PKCS#11 token (CKA_LABEL, CKA_ID in hex): a reference, never key material. */
    pkcs11: z.strictObject({ label: z.string().min(1), id: z.string().regex(/^[0-9a-f]+$/) }).optional(),
  })
  .refine((k) => (k.privateKeyPem === undefined) !== (k.pkcs11 === undefined), {
    message: 'each JWT key is either an encrypted privateKeyPem or a pkcs11 reference, not both',
  });
const fileSchema = z.strictObject({ version: z.literal(1), keys: z.array(storedKeySchema) });
type StoredJwtKey = z.infer<typeof storedKeySchema>;

export interface JwtKeySetOptions {
  readonly dataDir: string;
  /** Encrypts and decrypts the keys. Never logged. */
  readonly passphrase: string;
  readonly trustDomain: string;
  readonly algorithm: JwtAlgorithm;
  /** Lifetime of a JWT-SVID. */
  readonly ttlMs: number;
  /**
   * Present when the CA keys are in a PKCS#11 token (ca.json keyStore): new JWT keys are generated in that token,
   * sensitive and non-extractable, and sign there; keys.json then holds only their references. Opened on first use.
   */
  readonly token?: () => Promise<Pick<Pkcs11Token, 'generateKeyPair' | 'openKey'>>;
}

/** The key that signs: a decrypted software key (jose signs), or a token key (Sigil assembles the JWS around it). */
interface JwtSigner {
  readonly kid: string;
  readonly alg: JwtAlgorithm;
  readonly key: KeyObject | SigningKey;
}

const TOKEN_KEY_TYPES = { ES256: 'ec-p256', RS256: 'rsa-3072' } as const;

export interface JwtKeySetDeps {
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * The trust domain's JWT-SVID signing keys, kept beside the CA keys (encrypted at rest, in the CA state replicas
 * share) and rotated with the CA rotation steps: prepare publishes a next key before it signs, activate makes it
 * the signer (the old one stays published), retire removes the old one. Every key in the file is published in the
 * bundle, so tokens signed before and after a rotation validate throughout.
 */
export class JwtKeySet {
  readonly #options: JwtKeySetOptions;
  readonly #deps: JwtKeySetDeps;
  #keys: readonly StoredJwtKey[] = [];
  #version = '';
  #signer: JwtSigner | undefined;

  constructor(options: JwtKeySetOptions, deps: JwtKeySetDeps) {
    this.#options = options;
    this.#deps = deps;
  }

  get #path(): string {
    return join(this.#options.dataDir, JWT_KEYS_FILE);
  }

  /** The published keys (`use: jwt-svid`), in the SPIFFE bundle's JWK form. */
  bundleKeys(): JwtBundleKey[] {
    return this.#keys.map((k) => ({ ...(k.publicJwk as object), use: 'jwt-svid', kid: k.kid, alg: k.alg }));
  }

  /** Re-reads the file when it changed (another replica's rotation step, pulled into the data dir); true if so. */
  async reload(): Promise<boolean> {
    let version: string;
    try {
      const info = await stat(this.#path);
      version = `${info.mtimeMs}:${info.size}:${info.ino}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      version = 'none';
    }
    if (version === this.#version) return false;
    const before = this.#keys.map((k) => `${k.kid}:${k.state}`).join(',');
    this.#keys = version === 'none' ? [] : await this.#read();
    this.#signer = undefined;
    this.#version = version;
    return this.#keys.map((k) => `${k.kid}:${k.state}`).join(',') !== before;
  }

  /** Creates the first signing key when there is none (a CA from before JWT-SVIDs); true when it did. */
  async ensure(): Promise<boolean> {
    await this.reload();
    if (this.#keys.some((k) => k.state === 'active')) return false;
    await this.#write([...this.#keys, await this.#newKey('active')]);
    this.#deps.logger.info({ kid: this.#keys.at(-1)?.kid }, 'JWT-SVID signing key created');
    return true;
  }

  /** Rotation prepare: a next key, published before it signs. True when the published set changed. */
  async prepare(): Promise<boolean> {
    await this.reload();
    if (this.#keys.some((k) => k.state === 'next')) return false;
    await this.#write([...this.#keys, await this.#newKey('next')]);
    return true;
  }

  /** Rotation activate: the next key signs; the one it replaces stays published until retire. */
  async activate(): Promise<boolean> {
    await this.reload();
    if (!this.#keys.some((k) => k.state === 'next')) return false;
    const keys = this.#keys
      .filter((k) => k.state !== 'previous')
      .map((k) => ({ ...k, state: k.state === 'next' ? ('active' as const) : ('previous' as const) }));
    await this.#write(keys);
    return true;
  }

  /** Rotation retire: the replaced key is no longer published; tokens it signed stop validating. */
  async retire(): Promise<boolean> {
    await this.reload();
    if (!this.#keys.some((k) => k.state === 'previous')) return false;
    await this.#write(this.#keys.filter((k) => k.state !== 'previous'));
    return true;
  }

  /** Signs a JWT-SVID for `spiffeId` (already authenticated) and the audiences; INVALID_ARGUMENT on bad audiences. */
  async mint(spiffeId: string, audience: readonly string[]): Promise<{ token: string; expiresAt: number }> {
    const id = parseWorkloadId(spiffeId, this.#options.trustDomain);
    if (audience.length === 0)
      throw new SigilError(ErrorCode.INVALID_ARGUMENT, 'a JWT-SVID needs at least one audience (--audience)');
    if (audience.length > MAX_AUDIENCES || audience.some((a) => a === '' || a.length > MAX_AUDIENCE_LENGTH))
      throw new SigilError(
        ErrorCode.INVALID_ARGUMENT,
        `audiences must be 1 to ${MAX_AUDIENCES} non-empty strings of at most ${MAX_AUDIENCE_LENGTH} characters`,
      );
    const signer = await this.#currentSigner();
    const now = this.#deps.clock.now();
    const iat = Math.floor(now / 1000);
    const exp = iat + Math.max(1, Math.floor(this.#options.ttlMs / 1000));
    const aud = audience.length === 1 ? (audience[0] as string) : [...audience];
    const header = { alg: signer.alg, kid: signer.kid, typ: 'JWT' };
    const token =
      signer.key instanceof KeyObject
        ? await new (await jose()).SignJWT({})
            .setProtectedHeader(header)
            .setSubject(id.uri)
            .setAudience(aud)
            .setIssuedAt(iat)
            .setExpirationTime(exp)
            .sign(signer.key)
        : await signCompactJws(header, { sub: id.uri, aud, iat, exp }, signer.key);
    return { token, expiresAt: exp * 1000 };
  }

  async #currentSigner(): Promise<JwtSigner> {
    await this.reload();
    const active = this.#keys.find((k) => k.state === 'active');
    if (!active)
      throw new SigilError(
        ErrorCode.JWT_KEY,
        'the trust domain has no JWT-SVID signing key: restart the control plane to create one',
      );
    if (this.#signer?.kid !== active.kid) {
      this.#signer = { kid: active.kid, alg: active.alg, key: await this.#privateKey(active) };
    }
    return this.#signer;
  }

  async #privateKey(stored: StoredJwtKey): Promise<KeyObject | SigningKey> {
    if (stored.privateKeyPem !== undefined) {
      return decodePrivateKeyPem(stored.privateKeyPem, `${JWT_KEYS_FILE} (${stored.kid})`, {
        passphrase: this.#options.passphrase,
      });
    }
    if (!this.#options.token)
      throw new SigilError(
        ErrorCode.JWT_KEY,
        `the JWT-SVID key ${stored.kid} is in a PKCS#11 token, but ca.json names no token: restore ca.json from a backup`,
      );
    const token = await this.#options.token();
    // The token's public half must be the published one, or every token signed would fail validation.
    const key = await token.openKey(stored.pkcs11 ?? {});
    if (
      key.keyType !== TOKEN_KEY_TYPES[stored.alg] ||
      !Buffer.from(key.publicKeySpki).equals(spkiOfJwk(stored.publicJwk))
    )
      throw new SigilError(
        ErrorCode.JWT_KEY,
        `the key ${stored.pkcs11?.label ?? ''} in the token is not the published JWT-SVID key ${stored.kid} (${stored.alg}): restore ${JWT_KEYS_FILE} or ca.json from a backup`,
      );
    return key;
  }

  async #newKey(state: StoredJwtKey['state']): Promise<StoredJwtKey> {
    const alg = this.#options.algorithm;
    if (this.#options.token) return this.#newTokenKey(state, alg);
    const { privateKey, publicKey } =
      alg === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('rsa', { modulusLength: 3072 });
    const { exportJWK, calculateJwkThumbprint } = await jose();
    const jwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(jwk);
    return {
      kid,
      alg,
      state,
      createdAt: new Date(this.#deps.clock.now()).toISOString(),
      publicJwk: jwk as Record<string, unknown>,
      privateKeyPem: privateKeyPem(privateKey, { passphrase: this.#options.passphrase }),
    };
  }

  /** A key pair made inside the CA's token: keys.json records its public JWK and where it is, nothing secret. */
  async #newTokenKey(state: StoredJwtKey['state'], alg: JwtAlgorithm): Promise<StoredJwtKey> {
    const token = await (this.#options.token as NonNullable<JwtKeySetOptions['token']>)();
    const createdAt = new Date(this.#deps.clock.now()).toISOString();
    const label = `sigil-${this.#options.trustDomain}-jwt-${createdAt.replace(/[-:]|\.\d+/g, '')}`;
    const { ref, key } = await token.generateKeyPair(TOKEN_KEY_TYPES[alg], label);
    const { exportJWK, calculateJwkThumbprint } = await jose();
    const jwk = await exportJWK(createPublicKey({ key: Buffer.from(key.publicKeySpki), format: 'der', type: 'spki' }));
    const kid = await calculateJwkThumbprint(jwk);
    return { kid, alg, state, createdAt, publicJwk: jwk as Record<string, unknown>, pkcs11: { ...ref } };
  }

  async #read(): Promise<StoredJwtKey[]> {
    const text = await readFile(this.#path, 'utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (cause) {
      throw new SigilError(
        ErrorCode.CA_INVALID,
        `${this.#path} is not valid JSON: restore it from the store or a backup`,
        { cause },
      );
    }
    const result = fileSchema.safeParse(parsed);
    if (!result.success)
      throw new SigilError(
        ErrorCode.CA_INVALID,
        `${this.#path} is not a JWT key file: ${result.error.issues[0]?.message}`,
      );
    return result.data.keys;
  }

  async #write(keys: StoredJwtKey[]): Promise<void> {
    await mkdir(dirname(this.#path), { recursive: true, mode: 0o700 });
    await replaceFile(this.#path, `${JSON.stringify({ version: 1, keys }, null, 2)}\n`, 0o600);
    this.#version = '';
    await this.reload();
  }
}

/**
 * A JWS compact serialisation (RFC 7515 §7.1) signed by a key jose cannot hold (one inside a token): jose signs only
 * with keys it has, so the two base64url parts are assembled here and the token signs their ASCII bytes. ES256 wants
 * the raw r‖s signature (RFC 7518 §3.4), not DER; RS256 is PKCS#1 v1.5 with SHA-256. Verification stays jose's.
 */
async function signCompactJws(
  header: Readonly<Record<string, unknown>>,
  payload: Readonly<Record<string, unknown>>,
  key: SigningKey,
): Promise<string> {
  const part = (value: object) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
  const signingInput = `${part(header)}.${part(payload)}`;
  const signature = await key.sign(Buffer.from(signingInput, 'ascii'), 'SHA-256', 'ieee-p1363');
  return `${signingInput}.${Buffer.from(signature).toString('base64url')}`;
}

/** The DER SPKI of a stored public JWK: tells the token which public key a private-key reference must match. */
function spkiOfJwk(jwk: Record<string, unknown>): Buffer {
  return createPublicKey({ key: jwk as webcrypto.JsonWebKey, format: 'jwk' }).export({ format: 'der', type: 'spki' });
}
