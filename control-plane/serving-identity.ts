import { isIP } from 'node:net';
import type { Clock, Timer } from '../common/clock.ts';
import { controlPlaneId } from '../common/spiffe-id.ts';
import { derToPem } from '../common/trust-bundle.ts';
import { LogField, type Logger } from '../common/logger.ts';
import type { IssuedLeaf, SigningCa } from './ca/certificate-authority.ts';
import { generateKeyPair } from '../common/key-pair.ts';
import { privateKeyPem } from './ca/key-file.ts';

export interface ServingMaterial {
  readonly certChainPem: string;
  readonly keyPem: string;
  readonly bundlePem: string;
  readonly leaf: IssuedLeaf;
  /** For signing events: the SVID and intermediates (DER) and the key, which never leaves this process. */
  readonly chainDer: Uint8Array[];
  readonly privateKey: CryptoKey;
}

export interface ServingIdentityDeps {
  readonly ca: SigningCa;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Called with every new serving certificate, to record it and hand it to the listeners. */
  readonly onIssued: (material: ServingMaterial) => Promise<void>;
}

/**
 * The control plane's own SVID (spiffe://<td>/sigil/control-plane), minted in memory with a fresh key at start
 * and again at half its lifetime: it authenticates the gRPC server (with DNS/IP SANs for the hosts it serves on)
 * and, later, signs pushed events. Nothing about it needs to be on disk.
 */
export class ServingIdentity {
  readonly #deps: ServingIdentityDeps;
  readonly #hosts: readonly string[];
  readonly #ttlMs: number;
  #timer: Timer | undefined;
  #current: ServingMaterial | undefined;
  /** Mints run one after the other, so an older one can never finish last and install stale material. */
  #minting: Promise<unknown> = Promise.resolve();

  constructor(options: { hosts: readonly string[]; ttlMs: number }, deps: ServingIdentityDeps) {
    this.#hosts = [
      ...new Set(['localhost', '127.0.0.1', ...options.hosts.filter((h) => h !== '0.0.0.0' && h !== '::')]),
    ];
    this.#ttlMs = options.ttlMs;
    this.#deps = deps;
  }

  get current(): ServingMaterial | undefined {
    return this.#current;
  }

  async start(): Promise<ServingMaterial> {
    return this.#mintSerialised();
  }

  /** Mints at once (CA rotation: a new signer or a new bundle); the renewal timer restarts from the new SVID. */
  async renewNow(): Promise<ServingMaterial> {
    return this.#mintSerialised();
  }

  #mintSerialised(): Promise<ServingMaterial> {
    const run = this.#minting.then(() => {
      this.#timer?.cancel();
      this.#timer = undefined;
      return this.#mint();
    });
    this.#minting = run.catch(() => undefined);
    return run;
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  async #mint(): Promise<ServingMaterial> {
    const { ca, clock } = this.#deps;
    const keys = await generateKeyPair('ec-p256');
    const now = clock.now();
    const leaf = await ca.issueLeaf({
      spiffeId: controlPlaneId(ca.trustDomain),
      publicKey: keys.publicKey,
      ttlMs: this.#ttlMs,
      now,
      dnsNames: this.#hosts.filter((h) => isIP(h) === 0),
      ipAddresses: this.#hosts.filter((h) => isIP(h) !== 0),
    });
    const material = {
      certChainPem: leaf.pem + leaf.chainDer.map((der) => derToPem(der)).join(''),
      keyPem: privateKeyPem(keys.privateKey),
      bundlePem: ca.bundlePem(),
      leaf,
      chainDer: [leaf.der, ...leaf.chainDer],
      privateKey: keys.privateKey,
    };
    await this.#deps.onIssued(material);
    this.#current = material;
    this.#deps.logger.info(
      { [LogField.serial]: leaf.serial, not_after: new Date(leaf.notAfter).toISOString() },
      'serving identity issued',
    );
    this.#schedule(Math.max(1_000, (leaf.notAfter - now) / 2));
    return material;
  }

  #schedule(delayMs: number): void {
    this.#timer = this.#deps.clock.setTimer(delayMs, () => {
      this.#mintSerialised().catch((err: unknown) => {
        this.#deps.logger.error({ err }, 'renewing the serving identity failed; retrying in 30s');
        this.#schedule(30_000);
      });
    });
  }
}
