import type { HostPort } from '../../common/address.ts';
import type { Clock } from '../../common/clock.ts';
import { ErrorCode, isSigilError, SigilError } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import { derToPem } from '../../common/trust-bundle.ts';
import { parseRevocationReason, reasonCode } from '../revocation/reason-codes.ts';
import type { Store } from '../store/store.ts';
import { AcmeAccounts, type PollingOptions } from './acme-accounts.ts';
import {
  parseAcmeDocument,
  type AcmeCertificateSpec,
  type AcmeDeclarations,
  type AcmeSettings,
} from './acme-config.ts';
import { AcmeRenewer, type AcmeRenewalAlert, type RenewOutcome } from './acme-renewer.ts';
import type { AcmeCertificateState } from './acme-state.ts';
import type { ChallengeSolver } from './challenges/challenge-solver.ts';
import { dns01HookSolver } from './challenges/dns01-hook.ts';
import { Http01Listener, webrootSolver } from './challenges/http01.ts';
import { TlsAlpn01Listener } from './challenges/tls-alpn01.ts';

const APPLIED_KEY = 'acme.applied';

export interface AcmeServiceDeps {
  readonly store: Pick<Store, 'getMeta' | 'setMeta' | 'insertCertificate' | 'setCertificateStatus' | 'getCertificate'>;
  /** Encrypts ACME account keys at rest (the CA passphrase). */
  readonly passphrase: string;
  readonly clock: Clock;
  readonly random: () => number;
  readonly logger: Logger;
  readonly onAlert?: (alert: AcmeRenewalAlert) => void;
  readonly onOutcome?: (name: string, result: 'renewed' | 'failed', state: AcmeCertificateState) => void;
  readonly polling?: PollingOptions;
}

/** One declared certificate with where it came from and how its renewal stands. */
export interface AcmeCertificateStatus {
  readonly spec: AcmeCertificateSpec;
  readonly source: 'config' | 'applied';
  readonly state: AcmeCertificateState;
  readonly renewAt?: number;
  readonly basis?: 'ari' | 'lifetime';
  /** The earliest next attempt, backoff and Retry-After included. */
  readonly nextAttemptAt: number;
  readonly accountUrl?: string;
}

/**
 * The control plane's ACME duty: declared accounts and certificates (cp.yaml plus `sigil acme apply`), the challenge
 * listeners, and the operator actions behind `sigil acme ...`. The renewal loop drives `runOnce`.
 */
export class AcmeService {
  readonly #settings: AcmeSettings;
  readonly #deps: AcmeServiceDeps;
  readonly #accounts: AcmeAccounts;
  readonly #renewer: AcmeRenewer;
  readonly #http01 = new Http01Listener();
  readonly #tlsAlpn01 = new TlsAlpn01Listener();
  #applied: AcmeDeclarations = { accounts: [], certificates: [] };
  #listening: { http01?: HostPort; tlsAlpn01?: HostPort } = {};

  constructor(settings: AcmeSettings, deps: AcmeServiceDeps) {
    this.#settings = settings;
    this.#deps = deps;
    this.#accounts = new AcmeAccounts({ ...deps, ...(deps.polling ? { polling: deps.polling } : {}) });
    this.#renewer = new AcmeRenewer({
      ...deps,
      accounts: this.#accounts,
      declarations: () => this.declarations(),
      solverFor: (spec) => this.#solver(spec),
    });
  }

  get accounts(): AcmeAccounts {
    return this.#accounts;
  }

  /** Where the challenge listeners ended up (port 0 in tests). */
  get listening(): { readonly http01?: HostPort; readonly tlsAlpn01?: HostPort } {
    return this.#listening;
  }

  async start(): Promise<void> {
    const applied = await this.#deps.store.getMeta(APPLIED_KEY);
    if (applied !== undefined) this.#applied = JSON.parse(applied) as AcmeDeclarations;
    if (this.#settings.http01Listen) this.#listening.http01 = await this.#http01.listen(this.#settings.http01Listen);
    if (this.#settings.tlsAlpn01Listen) {
      this.#listening.tlsAlpn01 = await this.#tlsAlpn01.listen(this.#settings.tlsAlpn01Listen);
    }
  }

  async stop(): Promise<void> {
    await this.#http01.close();
    await this.#tlsAlpn01.close();
  }

  /** cp.yaml's declarations, then the applied document's. */
  declarations(): AcmeDeclarations {
    return {
      accounts: [...this.#settings.accounts, ...this.#applied.accounts],
      certificates: [...this.#settings.certificates, ...this.#applied.certificates],
    };
  }

  /**
   * Replaces the applied declarations with a `sigil acme apply` document, as a whole. Refused with every finding
   * (nothing changes) when it is invalid, a name clashes with cp.yaml's, or a certificate names an unknown account.
   * Certificates no longer declared stay installed; they are just not renewed any more.
   */
  async applyDocument(text: string, source: string, baseDir: string): Promise<AcmeDeclarations> {
    const configured = { accounts: this.#settings.accounts, certificates: this.#settings.certificates };
    const document = parseAcmeDocument(text, source, baseDir, configured);
    await this.#deps.store.setMeta(APPLIED_KEY, JSON.stringify(document));
    this.#applied = document;
    this.#deps.logger.info(
      { accounts: document.accounts.length, certificates: document.certificates.length },
      'ACME declarations applied',
    );
    return document;
  }

  runOnce(): Promise<RenewOutcome[]> {
    return this.#renewer.runOnce();
  }

  renew(name: string, options: { force: boolean }): Promise<RenewOutcome> {
    return this.#renewer.renew(name, options);
  }

  async status(name?: string): Promise<AcmeCertificateStatus[]> {
    const configured = new Set(this.#settings.certificates.map((c) => c.name));
    const specs = this.declarations().certificates.filter((c) => name === undefined || c.name === name);
    if (name !== undefined && specs.length === 0) {
      throw new SigilError(ErrorCode.NOT_FOUND, `no ACME certificate named ${name}: see sigil acme list`);
    }
    const out: AcmeCertificateStatus[] = [];
    for (const spec of specs) {
      const state = await this.#renewer.states.get(spec.name);
      const plan = this.#renewer.plan(state);
      const account = this.declarations().accounts.find((a) => a.name === spec.account);
      const accountUrl = account ? await this.#accounts.accountUrl(account) : undefined;
      out.push({
        spec,
        source: configured.has(spec.name) ? 'config' : 'applied',
        state,
        ...(plan ? { renewAt: plan.at, basis: plan.basis } : {}),
        nextAttemptAt: this.#renewer.nextAttemptAt(state),
        ...(accountUrl !== undefined ? { accountUrl } : {}),
      });
    }
    return out;
  }

  /**
   * Revokes the certificate in service through the ACME server (RFC 8555 7.6), signed by the account key, and marks
   * it revoked in the inventory. The next renewal check replaces it.
   */
  async revoke(name: string, reasonName: string): Promise<AcmeCertificateStatus> {
    const reason = parseRevocationReason(reasonName);
    const [status] = await this.status(name);
    const current = status?.state.current;
    if (!status || !current) {
      throw new SigilError(ErrorCode.NOT_FOUND, `${name} has no issued certificate to revoke`);
    }
    const record = await this.#deps.store.getCertificate(current.serial);
    if (!record) throw new SigilError(ErrorCode.NOT_FOUND, `certificate ${current.serial} is not in the inventory`);
    const account = this.declarations().accounts.find((a) => a.name === status.spec.account);
    if (!account) throw new SigilError(ErrorCode.NOT_FOUND, `no ACME account named ${status.spec.account}`);
    const session = await this.#accounts.session(account);
    try {
      await session.client.revokeCertificate(derToPem(record.der), { reason: reasonCode(reason) });
    } catch (err) {
      if (isSigilError(err)) throw err;
      throw new SigilError(
        ErrorCode.ACME_PROBLEM,
        `revoking ${name} (serial ${current.serial}): the ACME server answered: ${(err as Error).message}`,
        { cause: err },
      );
    }
    await this.#deps.store.setCertificateStatus(current.serial, 'revoked');
    const state = { ...status.state, revoked: { serial: current.serial, at: this.#deps.clock.now(), reason } };
    await this.#renewer.states.set(name, state);
    this.#deps.logger.warn({ acme_certificate: name, serial: current.serial, reason }, 'ACME certificate revoked');
    return { ...status, state };
  }

  async rollover(accountName: string): Promise<{ accountUrl: string }> {
    const account = this.declarations().accounts.find((a) => a.name === accountName);
    if (!account) throw new SigilError(ErrorCode.NOT_FOUND, `no ACME account named ${accountName}`);
    return this.#accounts.rollover(account);
  }

  #solver(spec: AcmeCertificateSpec): ChallengeSolver {
    const challenge = spec.challenge;
    switch (challenge.type) {
      case 'http-01':
        return challenge.webroot !== undefined ? webrootSolver(challenge.webroot) : this.#http01.solver();
      case 'tls-alpn-01':
        return this.#tlsAlpn01.solver();
      case 'dns-01':
        return dns01HookSolver(
          { command: challenge.hook, propagationMs: challenge.propagation, timeoutMs: challenge.timeout },
          { clock: this.#deps.clock },
        );
    }
  }
}
