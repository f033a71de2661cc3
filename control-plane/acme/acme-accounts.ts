import type * as acme from 'acme-client';
import { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Clock } from '../../common/clock.ts';
import { ErrorCode, isSigilError, SigilError } from '../../common/errors.ts';
import { generateKeyPair } from '../../common/key-pair.ts';
import type { Logger } from '../../common/logger.ts';
import { decodePrivateKeyPem, privateKeyPem } from '../ca/key-file.ts';
import type { Store } from '../store/store.ts';
import type { AcmeAccountSpec } from './acme-config.ts';
import { acmeGet, acmeLibrary, trustAcmeDirectory } from './acme-transport.ts';

/** What is kept of an account, in the store: the key only as encrypted PKCS#8, like the CA keys. */
interface StoredAccount {
  readonly directory: string;
  readonly url: string;
  readonly encryptedKeyPem: string;
  readonly createdAt: number;
  readonly rolledOverAt?: number;
}

/** The parts of an ACME directory Sigil reads beyond what acme-client uses. */
export interface AcmeDirectory {
  readonly renewalInfo?: string;
  readonly profiles?: Readonly<Record<string, string>>;
  readonly externalAccountRequired?: boolean;
}

export interface AccountSession {
  readonly client: acme.Client;
  readonly accountUrl: string;
  readonly directory: AcmeDirectory;
}

export interface PollingOptions {
  readonly minMs: number;
  readonly maxMs: number;
  readonly attempts: number;
}

export interface AcmeAccountsDeps {
  readonly store: Pick<Store, 'getMeta' | 'setMeta'>;
  /** Encrypts account keys at rest: the CA passphrase. */
  readonly passphrase: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly polling?: PollingOptions;
}

const metaKey = (name: string) => `acme.account.${name}`;

/**
 * ACME accounts: registered on first use (with external account binding when declared), keys generated here and
 * stored encrypted, key rollover on request. EAB HMAC keys are read from their file when needed and never stored,
 * logged or passed on the command line.
 */
export class AcmeAccounts {
  readonly #deps: AcmeAccountsDeps;

  constructor(deps: AcmeAccountsDeps) {
    this.#deps = deps;
  }

  /** A client for the account, registering it first if this directory has not seen it. */
  async session(spec: AcmeAccountSpec): Promise<AccountSession> {
    await this.#trust(spec);
    const directory = await fetchDirectory(spec.directory);
    const stored = await this.#load(spec);
    if (stored) {
      const keyPem = this.#decrypt(stored, spec.name);
      return { client: await this.#client(spec, keyPem, stored.url), accountUrl: stored.url, directory };
    }
    if (directory.externalAccountRequired === true && !spec.eab) {
      throw new SigilError(
        ErrorCode.CONFIG_INVALID,
        `${spec.directory} requires external account binding: give account ${spec.name} eab: { keyId, hmacFile } with the key id and HMAC key your CA issued`,
      );
    }
    const keyPem = await newKeyPem(spec);
    const client = await this.#client(spec, keyPem, undefined, await this.#eab(spec));
    await register(client, spec);
    const url = client.getAccountUrl();
    await this.#save(spec.name, {
      directory: spec.directory,
      url,
      encryptedKeyPem: this.#encrypt(keyPem),
      createdAt: this.#deps.clock.now(),
    });
    this.#deps.logger.info({ account: spec.name, account_url: url }, 'ACME account registered');
    return { client: await this.#client(spec, keyPem, url), accountUrl: url, directory };
  }

  /** RFC 8555 7.3.5: the account gets a new key, signed over by the old one; the stored key is replaced. */
  async rollover(spec: AcmeAccountSpec): Promise<{ accountUrl: string }> {
    const session = await this.session(spec);
    const stored = await this.#load(spec);
    const newPem = await newKeyPem(spec);
    try {
      await session.client.updateAccountKey(newPem);
    } catch (err) {
      if (isSigilError(err)) throw err;
      throw new SigilError(
        ErrorCode.ACME_PROBLEM,
        `rolling over the key of account ${spec.name}: the ACME server answered: ${(err as Error).message}; the old key stays in use`,
        { cause: err },
      );
    }
    await this.#save(spec.name, {
      directory: spec.directory,
      url: session.accountUrl,
      encryptedKeyPem: this.#encrypt(newPem),
      createdAt: stored?.createdAt ?? this.#deps.clock.now(),
      rolledOverAt: this.#deps.clock.now(),
    });
    this.#deps.logger.info({ account: spec.name, account_url: session.accountUrl }, 'ACME account key rolled over');
    return { accountUrl: session.accountUrl };
  }

  /** The stored account URL, if registered with this directory. */
  async accountUrl(spec: AcmeAccountSpec): Promise<string | undefined> {
    return (await this.#load(spec))?.url;
  }

  async #client(
    spec: AcmeAccountSpec,
    keyPem: string,
    url: string | undefined,
    eab?: acme.ClientExternalAccountBindingOptions,
  ): Promise<acme.Client> {
    const { Client } = await acmeLibrary();
    const polling = this.#deps.polling ?? { minMs: 1000, maxMs: 10_000, attempts: 15 };
    return new Client({
      directoryUrl: spec.directory,
      accountKey: keyPem,
      ...(url !== undefined ? { accountUrl: url } : {}),
      ...(eab ? { externalAccountBinding: eab } : {}),
      backoffMin: polling.minMs,
      backoffMax: polling.maxMs,
      backoffAttempts: polling.attempts,
    });
  }

  async #trust(spec: AcmeAccountSpec): Promise<void> {
    const caPem =
      spec.caFile === undefined ? undefined : await readDeclaredFile(spec.caFile, `caFile of account ${spec.name}`);
    await trustAcmeDirectory(spec.directory, caPem);
  }

  async #eab(spec: AcmeAccountSpec): Promise<acme.ClientExternalAccountBindingOptions | undefined> {
    if (!spec.eab) return undefined;
    const text = await readDeclaredFile(spec.eab.hmacFile, `EAB HMAC file of account ${spec.name}`);
    const hmacKey = text.split(/\r?\n/)[0]?.trim() ?? '';
    if (!/^[A-Za-z0-9_\-+/]+=*$/.test(hmacKey)) {
      throw new SigilError(
        ErrorCode.CONFIG_INVALID,
        `the EAB HMAC file of account ${spec.name} (${spec.eab.hmacFile}) does not hold a base64url key on its first line`,
      );
    }
    return { kid: spec.eab.keyId, hmacKey };
  }

  async #load(spec: AcmeAccountSpec): Promise<StoredAccount | undefined> {
    const text = await this.#deps.store.getMeta(metaKey(spec.name));
    if (text === undefined) return undefined;
    const stored = JSON.parse(text) as StoredAccount;
    // Another directory (the operator moved the account to a new CA): register anew there.
    return stored.directory === spec.directory ? stored : undefined;
  }

  async #save(name: string, account: StoredAccount): Promise<void> {
    await this.#deps.store.setMeta(metaKey(name), JSON.stringify(account));
  }

  #encrypt(keyPem: string): string {
    return privateKeyPem(decodePrivateKeyPem(keyPem, 'the new ACME account key'), {
      passphrase: this.#deps.passphrase,
    });
  }

  #decrypt(stored: StoredAccount, name: string): string {
    const key = decodePrivateKeyPem(stored.encryptedKeyPem, `the stored key of ACME account ${name}`, {
      passphrase: this.#deps.passphrase,
    });
    return key.export({ format: 'pem', type: 'pkcs8' }) as string;
  }
}

async function newKeyPem(spec: AcmeAccountSpec): Promise<string> {
  const pair = await generateKeyPair(spec.keyType);
  return KeyObject.from(pair.privateKey).export({ format: 'pem', type: 'pkcs8' }) as string;
}

async function register(client: acme.Client, spec: AcmeAccountSpec): Promise<void> {
  try {
    await client.createAccount({ termsOfServiceAgreed: spec.termsOfServiceAgreed, contact: [...spec.contact] });
  } catch (err) {
    if (isSigilError(err)) throw err;
    throw new SigilError(
      ErrorCode.ACME_PROBLEM,
      `registering ACME account ${spec.name} with ${spec.directory}: the server answered: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

export async function fetchDirectory(url: string): Promise<AcmeDirectory> {
  const response = await acmeGet(url);
  const body = response.data as Record<string, unknown> | undefined;
  if (response.status !== 200 || typeof body !== 'object' || body === null || typeof body['newOrder'] !== 'string') {
    throw new SigilError(
      ErrorCode.ACME_UNREACHABLE,
      `${url} did not answer with an ACME directory (HTTP ${response.status}): check the directory URL`,
    );
  }
  const meta = (body['meta'] ?? {}) as Record<string, unknown>;
  const profiles = meta['profiles'];
  return {
    ...(typeof body['renewalInfo'] === 'string' ? { renewalInfo: body['renewalInfo'] } : {}),
    ...(profiles && typeof profiles === 'object' ? { profiles: profiles as Record<string, string> } : {}),
    ...(meta['externalAccountRequired'] === true ? { externalAccountRequired: true } : {}),
  };
}

async function readDeclaredFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      `cannot read the ${what}: ${path} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
      { cause: err },
    );
  }
}
