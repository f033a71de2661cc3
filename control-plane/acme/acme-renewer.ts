import type { Clock } from '../../common/clock.ts';
import { ErrorCode, isSigilError, SigilError } from '../../common/errors.ts';
import { LogField, type Logger } from '../../common/logger.ts';
import { parseX509Facts } from '../../common/x509-facts.ts';
import { classifyPublicKey } from '../../common/key-type.ts';
import type { Store } from '../store/store.ts';
import type { AccountSession, AcmeAccounts } from './acme-accounts.ts';
import type { AcmeAccountSpec, AcmeCertificateSpec, AcmeDeclarations } from './acme-config.ts';
import { AcmeStateStore, type AcmeCertificateState, type IssuedFacts } from './acme-state.ts';
import { CertificateInstaller, runReload } from './certificate-installer.ts';
import { chainPem, orderCertificate, type IssuedAcmeCertificate } from './certificate-order.ts';
import type { ChallengeSolver } from './challenges/challenge-solver.ts';
import { ariCertificateId } from './renewal-info.ts';
import { checkRenewalInfo } from './renewal-info-check.ts';
import { nextAttemptAt, planRenewal, renewalAlertDue, type RenewalPlan } from './renewal-schedule.ts';

/** Raised when a certificate is inside 7 days of expiry and its renewal keeps failing; resolved by a renewal. */
export interface AcmeRenewalAlert {
  readonly name: string;
  readonly state: 'firing' | 'resolved';
  readonly notAfter: number;
  readonly failures: number;
  readonly message: string;
}

export interface AcmeRenewerDeps {
  readonly store: Pick<Store, 'getMeta' | 'setMeta' | 'insertCertificate' | 'setCertificateStatus'>;
  readonly accounts: AcmeAccounts;
  readonly declarations: () => AcmeDeclarations;
  readonly solverFor: (certificate: AcmeCertificateSpec) => ChallengeSolver;
  readonly clock: Clock;
  /** Uniform in [0, 1): picks the moment inside an ARI window. */
  readonly random: () => number;
  readonly logger: Logger;
  readonly onAlert?: (alert: AcmeRenewalAlert) => void;
  readonly onOutcome?: (name: string, result: 'renewed' | 'failed', state: AcmeCertificateState) => void;
}

export interface RenewOutcome {
  readonly name: string;
  readonly result: 'renewed' | 'not-due' | 'failed';
  readonly error?: SigilError;
}

/**
 * Keeps declared ACME certificates issued and installed. `runOnce` looks at every certificate and renews those due
 * (a scheduler or a test drives it; it never throws); `renew` does one on request. A failure at any step leaves the
 * certificate in service installed, is recorded with its code, and is retried after a capped backoff.
 */
export class AcmeRenewer {
  readonly #deps: AcmeRenewerDeps;
  readonly #states: AcmeStateStore;
  readonly #installer = new CertificateInstaller();
  /** Renewals in flight by name: a second request joins the first instead of ordering twice. */
  readonly #running = new Map<string, Promise<RenewOutcome>>();

  constructor(deps: AcmeRenewerDeps) {
    this.#deps = deps;
    this.#states = new AcmeStateStore(deps.store);
  }

  get states(): AcmeStateStore {
    return this.#states;
  }

  async runOnce(): Promise<RenewOutcome[]> {
    const outcomes: RenewOutcome[] = [];
    for (const spec of this.#deps.declarations().certificates) {
      try {
        outcomes.push(await this.#renewIfDue(spec, false));
      } catch (err) {
        outcomes.push({ name: spec.name, result: 'failed', error: asSigilError(err) });
      }
    }
    return outcomes;
  }

  /** Renews one certificate now if due (or always, with `force`); throws the failure for the caller to show. */
  async renew(name: string, options: { force: boolean }): Promise<RenewOutcome> {
    const spec = this.#spec(name);
    const outcome = await this.#renewIfDue(spec, options.force);
    if (outcome.error) throw outcome.error;
    return outcome;
  }

  /** When the certificate is next due, and on what basis; undefined before the first issuance. */
  plan(state: AcmeCertificateState): RenewalPlan | undefined {
    if (!state.current) return undefined;
    return planRenewal({
      certificate: state.current,
      ari: state.ari?.window,
      previous: state.ari?.chosen,
      random: this.#deps.random,
    });
  }

  async #renewIfDue(spec: AcmeCertificateSpec, force: boolean): Promise<RenewOutcome> {
    const inFlight = this.#running.get(spec.name);
    if (inFlight) {
      const joined = await inFlight;
      // A forced renewal still gets its own order once the running one has settled.
      if (!force || joined.result === 'renewed') return joined;
      return this.#renewIfDue(spec, force);
    }
    const run = this.#renewLocked(spec, force).finally(() => this.#running.delete(spec.name));
    this.#running.set(spec.name, run);
    return run;
  }

  async #renewLocked(spec: AcmeCertificateSpec, force: boolean): Promise<RenewOutcome> {
    const now = this.#deps.clock.now();
    let state = await this.#states.get(spec.name);
    const account = this.#account(spec.account);
    let session: AccountSession | undefined;
    try {
      if (state.current && !state.revoked && !state.pending) {
        // Asking for renewal information only advises: a CA that cannot be reached for it is not a failed renewal.
        try {
          session = await this.#deps.accounts.session(account);
          state = await checkRenewalInfo(session.directory, state, now, this.#deps, spec.name);
          await this.#states.set(spec.name, state);
        } catch (err) {
          this.#deps.logger.warn(
            { acme_certificate: spec.name, [LogField.errCode]: asSigilError(err).code },
            'ACME directory not reachable for renewal information; the last known schedule applies',
          );
        }
      }
      if (!force && !this.#due(state, now)) return { name: spec.name, result: 'not-due' };
      if (state.pending && !force) {
        await this.#install(spec, state.pending, state);
      } else {
        session ??= await this.#deps.accounts.session(account);
        const facts = await this.#issue(spec, session, state);
        await this.#install(spec, facts, { ...state, pending: facts });
      }
      return { name: spec.name, result: 'renewed' };
    } catch (err) {
      const error = asSigilError(err);
      await this.#failed(spec, error);
      return { name: spec.name, result: 'failed', error };
    }
  }

  /** The earliest moment the next attempt may run (now or earlier: due). */
  nextAttemptAt(state: AcmeCertificateState, now: number = this.#deps.clock.now()): number {
    const renewAt = state.current && !state.revoked && !state.pending ? (this.plan(state)?.at ?? now) : now;
    return nextAttemptAt({ renewAt, ...retryInputs(state) });
  }

  #due(state: AcmeCertificateState, now: number): boolean {
    // The same `now` on both sides: a certificate never issued is due at once, however slow the machine.
    return now >= this.nextAttemptAt(state, now);
  }

  async #issue(spec: AcmeCertificateSpec, session: AccountSession, state: AcmeCertificateState): Promise<IssuedFacts> {
    checkProfile(spec, session);
    const replaces =
      session.directory.renewalInfo !== undefined && state.current && !state.revoked ? state.current.certId : undefined;
    const issued = await orderCertificate(session.client, {
      name: spec.name,
      names: spec.names,
      keyType: spec.keyType,
      solver: this.#deps.solverFor(spec),
      profile: spec.profile,
      replaces,
    });
    const facts = factsOf(issued, this.#deps.clock.now());
    await this.#installer.stage(spec.install.dir, facts.serial, {
      keyPem: issued.keyPem,
      certPem: chainPem([issued.leafDer]),
      chainPem: chainPem(issued.chainDer),
    });
    await this.#record(spec, issued, facts, state.current?.serial);
    await this.#states.set(spec.name, { ...state, pending: facts });
    this.#deps.logger.info(
      {
        acme_certificate: spec.name,
        [LogField.serial]: facts.serial,
        order_url: facts.orderUrl,
        replaces: replaces ?? null,
      },
      'ACME certificate issued',
    );
    return facts;
  }

  /** Every issued certificate goes to the inventory, superseding the one it replaces. */
  async #record(spec: AcmeCertificateSpec, issued: IssuedAcmeCertificate, facts: IssuedFacts, previous?: string) {
    const leaf = parseX509Facts(issued.leafDer);
    const issuer = issued.chainDer[0] ? parseX509Facts(issued.chainDer[0]).serial : null;
    await this.#deps.store.insertCertificate(
      {
        serial: facts.serial,
        spiffeId: spec.names[0] ?? spec.name,
        kind: 'acme',
        keyType: classifyPublicKey(leaf.publicKey),
        notBefore: facts.notBefore,
        notAfter: facts.notAfter,
        issuerSerial: issuer,
        status: 'active',
        issuedAt: facts.issuedAt,
        publicKeySha256: leaf.spkiSha256,
        der: issued.leafDer,
      },
      previous !== undefined ? { supersedes: previous } : {},
    );
  }

  /** Puts a staged version in service and reloads; on a failed reload, the previous version goes back in service. */
  async #install(spec: AcmeCertificateSpec, facts: IssuedFacts, state: AcmeCertificateState): Promise<void> {
    const dir = spec.install.dir;
    const previous = await this.#installer.activate(dir, facts.serial);
    if (spec.reload) {
      try {
        await runReload(spec.reload, { name: spec.name, dir, serial: facts.serial });
      } catch (err) {
        if (previous !== undefined && previous !== facts.serial) await this.#installer.activate(dir, previous);
        throw err;
      }
    }
    await this.#installer.prune(dir, [facts.serial, previous]);
    const wasAlerting = state.alerting === true;
    const next: AcmeCertificateState = { current: facts, failures: 0 };
    await this.#states.set(spec.name, next);
    this.#deps.logger.info(
      { acme_certificate: spec.name, [LogField.serial]: facts.serial, [LogField.notAfter]: facts.notAfter, dir },
      'ACME certificate installed',
    );
    this.#deps.onOutcome?.(spec.name, 'renewed', next);
    if (wasAlerting) {
      this.#deps.onAlert?.({
        name: spec.name,
        state: 'resolved',
        notAfter: facts.notAfter,
        failures: 0,
        message: `${spec.name} was renewed`,
      });
    }
  }

  async #failed(spec: AcmeCertificateSpec, error: SigilError): Promise<void> {
    const now = this.#deps.clock.now();
    const state = await this.#states.get(spec.name);
    const retryAfterMs = typeof error.details['retryAfterMs'] === 'number' ? error.details['retryAfterMs'] : undefined;
    const failures = state.failures + 1;
    const notAfter = state.current?.notAfter;
    const alertDue = notAfter !== undefined && renewalAlertDue({ now, notAfter, failures });
    const next: AcmeCertificateState = {
      ...state,
      failures,
      lastFailureAt: now,
      lastError: { code: error.code, message: error.message },
      ...(retryAfterMs !== undefined ? { retryAfterAt: now + retryAfterMs } : { retryAfterAt: undefined }),
      alerting: state.alerting === true || alertDue,
    };
    await this.#states.set(spec.name, next);
    this.#deps.logger.warn(
      { acme_certificate: spec.name, [LogField.errCode]: error.code, failures, msg_detail: error.message },
      'ACME renewal failed; the installed certificate stays in service',
    );
    this.#deps.onOutcome?.(spec.name, 'failed', next);
    // One alert per episode: raised by the first failure inside the window, resolved by the next success.
    if (alertDue && notAfter !== undefined && state.alerting !== true) {
      this.#deps.onAlert?.({
        name: spec.name,
        state: 'firing',
        notAfter,
        failures,
        message: `${spec.name} expires ${new Date(notAfter).toISOString()} and its renewal failed ${failures} time(s): ${error.message}`,
      });
    }
  }

  #spec(name: string): AcmeCertificateSpec {
    const spec = this.#deps.declarations().certificates.find((c) => c.name === name);
    if (!spec) {
      throw new SigilError(ErrorCode.NOT_FOUND, `no ACME certificate named ${name}: see sigil acme list`);
    }
    return spec;
  }

  #account(name: string): AcmeAccountSpec {
    const account = this.#deps.declarations().accounts.find((a) => a.name === name);
    if (!account) throw new SigilError(ErrorCode.NOT_FOUND, `no ACME account named ${name}`);
    return account;
  }
}

function retryInputs(state: AcmeCertificateState) {
  return {
    failures: state.failures,
    ...(state.lastFailureAt !== undefined ? { lastFailureAt: state.lastFailureAt } : {}),
    ...(state.retryAfterAt !== undefined ? { retryAfterAt: state.retryAfterAt } : {}),
  };
}

function checkProfile(spec: AcmeCertificateSpec, session: AccountSession): void {
  if (spec.profile === undefined) return;
  const profiles = session.directory.profiles;
  if (profiles === undefined) {
    throw new SigilError(
      ErrorCode.ACME_UNSUPPORTED,
      `${spec.name} asks for ACME profile ${spec.profile}, but the server advertises no profiles: remove the profile or use a CA that offers it`,
    );
  }
  if (!(spec.profile in profiles)) {
    throw new SigilError(
      ErrorCode.ACME_UNSUPPORTED,
      `${spec.name} asks for ACME profile ${spec.profile}, which the server does not offer (offered: ${Object.keys(profiles).join(', ') || 'none'})`,
    );
  }
}

function factsOf(issued: IssuedAcmeCertificate, now: number): IssuedFacts {
  const leaf = parseX509Facts(issued.leafDer);
  return {
    serial: leaf.serial,
    notBefore: leaf.notBefore,
    notAfter: leaf.notAfter,
    certId: ariCertificateId(issued.leafDer),
    orderUrl: issued.orderUrl,
    issuedAt: now,
  };
}

function asSigilError(err: unknown): SigilError {
  if (isSigilError(err)) return err;
  return new SigilError(ErrorCode.INTERNAL, `unexpected failure: ${(err as Error)?.message ?? String(err)}`, {
    cause: err,
  });
}
