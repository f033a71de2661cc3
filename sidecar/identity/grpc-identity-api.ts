import { signX509PopChallenge } from '../../common/x509pop-proof.ts';
import type { X509PopDevice } from './x509pop-device.ts';
import { clockSkewError, probeNotBefore } from './clock-skew-probe.ts';
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { AddressFailover, parseAddressList } from '../../common/address-failover.ts';
import { type Clock, systemClock } from '../../common/clock.ts';
import { checkControlPlaneCertificate, CONTROL_PLANE_CHANNEL_OPTIONS } from '../../common/control-plane-identity.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { callUnary, type UnaryCallback } from '../../common/wire-errors.ts';
import { rotationOrderFromWire, type RotationOrderEvent } from '../../common/events/sigil-event.ts';
import { IdentityClient, type sigil } from '../../proto/index.ts';
import type { TlsMaterial } from './credential-source.ts';
import type {
  IdentityApi,
  IssuedSvidWire,
  IssuedTrustWire,
  MintedJwtSvid,
  WorkloadIdentityApi,
} from './identity-api.ts';

export interface GrpcIdentityApiOptions {
  /** One host:port, a comma-separated list, or a list: the replicas of the control plane (see AddressFailover). */
  readonly address: string | readonly string[];
  /** The roots that authenticate the control plane: the bootstrap bundle at first, later the current one. */
  readonly bundlePem: () => string;
  /** When known, the control plane must be in this trust domain. */
  readonly trustDomain?: string;
  readonly timeoutMs?: number;
  /** Spreads clients over replicas and jitters failover pauses; default Math.random. */
  readonly random?: () => number;
  readonly clock?: Clock;
  /** Expands a DNS name into its addresses, so each replica behind it is tried; default: none (gRPC resolves). */
  readonly resolve?: (address: string) => Promise<readonly string[]>;
  /** What the sidecar tells the control plane about itself on each call (the fleet view); absent: nothing. */
  readonly report?: () => sigil.v1.ISidecarReport;
}

/** The trust state as FetchTrust returns it: bundle, revocations and policies, each with its sequence. */
export interface TrustStateWire extends IssuedTrustWire {
  /**
   * The control plane answered with the bundle alone, as it does a caller without a verified SVID: the revocation,
   * policy and rotation fields are empty for that reason and must not replace state the sidecar holds.
   */
  readonly bundleOnly: boolean;
  readonly refreshHintSeconds: number;
  readonly revocation: {
    readonly crlNumber: number;
    readonly revokedSerials: readonly string[];
    readonly revokedSpiffeIds: readonly string[];
    /** The control plane's store id; '' from a control plane that sends none. */
    readonly storeEpoch: string;
  };
  /** Absent when the control plane serves no policies. */
  readonly policies: sigil.v1.IPolicySet | undefined;
  /** Rotation orders still running (malformed ones are left out). */
  readonly rotationOrders: readonly RotationOrderEvent[];
}

/** A fetch whose state keeps moving between pages is given up after this many starts (the refresher retries). */
const MAX_FETCH_RESTARTS = 3;
/** 100,000 serials and 10,000 policies take a few dozen pages; far more means something is wrong. */
const MAX_TRUST_PAGES = 10_000;

function trustOf(t: sigil.v1.ITrustState | null | undefined): TrustStateWire {
  const r = t?.revocation;
  return {
    trustDomain: t?.trustDomain ?? '',
    roots: t?.roots ?? [],
    bundleSequence: Number(t?.bundleSequence ?? 0),
    spiffeBundle: t?.spiffeBundle ?? new Uint8Array(),
    refreshHintSeconds: t?.refreshHintSeconds ?? 0,
    bundleOnly: !t?.revocation,
    revocation: {
      crlNumber: Number(r?.crlNumber ?? 0),
      revokedSerials: r?.revokedSerials ?? [],
      revokedSpiffeIds: r?.revokedSpiffeIds ?? [],
      storeEpoch: r?.storeEpoch ?? '',
    },
    policies: t?.policies ?? undefined,
    rotationOrders: (t?.rotationOrders ?? []).map(rotationOrderFromWire).filter((o) => o !== undefined),
  };
}

/**
 * The control plane's Identity service over gRPC. A client per call: calls are rare (attest once, renew at half
 * life, fetch trust every minute) and each may need other TLS material (the SVID of the moment, a new bundle).
 * With several replicas, a call that finds one UNAVAILABLE goes on to the next (AddressFailover); every replica's
 * serving certificate is the control plane's SVID, so each is authenticated the same way.
 */
export class GrpcIdentityApi implements IdentityApi, WorkloadIdentityApi {
  readonly #options: GrpcIdentityApiOptions;
  readonly #failover: AddressFailover;

  constructor(options: GrpcIdentityApiOptions) {
    this.#options = options;
    this.#failover = new AddressFailover({
      addresses: parseAddressList(options.address, 'controlPlane.address'),
      random: options.random ?? Math.random,
      clock: options.clock ?? systemClock,
      ...(options.resolve ? { resolve: options.resolve } : {}),
    });
  }

  /** The replica that answered last. */
  get currentAddress(): string | undefined {
    return this.#failover.preferred;
  }

  attest(joinToken: string, csr: Uint8Array): Promise<IssuedSvidWire> {
    return this.#call<sigil.v1.SvidResponse>(
      this.#credentials(),
      'attesting to the control plane',
      (client, deadline, cb) => client.attest({ joinToken, csr, ...this.#report() }, { deadline }, cb),
    ).then((r) => ({ chain: r.svidChain, trust: trustOf(r.trust) }));
  }

  async attestX509Pop(device: X509PopDevice, csr: Uint8Array): Promise<IssuedSvidWire> {
    const certChain = device.chainDer;
    const challenge = await this.#call<sigil.v1.X509PopChallenge>(
      this.#credentials(),
      'asking the control plane for an x509pop challenge',
      (client, deadline, cb) => client.getX509PopChallenge({ certChain }, { deadline }, cb),
    );
    const signature = signX509PopChallenge(device.key, challenge.nonce, csr);
    const r = await this.#call<sigil.v1.SvidResponse>(
      this.#credentials(),
      'attesting to the control plane by x509pop',
      (client, deadline, cb) =>
        client.attestX509Pop(
          { nonce: challenge.nonce, certChain, csr, signature, ...this.#report() },
          { deadline },
          cb,
        ),
    );
    return { chain: r.svidChain, trust: trustOf(r.trust) };
  }

  renew(current: TlsMaterial, csr: Uint8Array): Promise<IssuedSvidWire> {
    const creds = this.#credentials(current);
    return this.#call<sigil.v1.SvidResponse>(creds, 'renewing the SVID', (client, deadline, cb) =>
      client.renew({ csr, ...this.#report() }, { deadline }, cb),
    ).then((r) => ({ chain: r.svidChain, trust: trustOf(r.trust) }));
  }

  issueWorkloadSvid(current: TlsMaterial, csr: Uint8Array, replacesSerial: string): Promise<IssuedSvidWire> {
    return this.#call<sigil.v1.SvidResponse>(
      this.#credentials(current),
      'obtaining the workload SVID',
      (client, deadline, cb) => client.issueWorkloadSvid({ csr, replacesSerial }, { deadline }, cb),
    ).then((r) => ({ chain: r.svidChain, trust: trustOf(r.trust) }));
  }

  mintJwtSvid(current: TlsMaterial, audience: readonly string[]): Promise<MintedJwtSvid> {
    return this.#call<sigil.v1.MintJwtSvidResponse>(
      this.#credentials(current),
      'obtaining a JWT-SVID',
      (client, deadline, cb) => client.mintJwtSvid({ audience: [...audience] }, { deadline }, cb),
    ).then((r) => ({ token: r.token, expiresAt: Number(r.expiresAtUnixMs) }));
  }

  /**
   * The whole trust state, page by page (each page well under gRPC's message limit). Pages of one fetch belong to
   * one state; when it moves on between pages the control plane says TRUST_STATE_CHANGED and the fetch starts over
   * (a few times, then the error is passed on and the refresher retries later).
   */
  async fetchTrust(current?: TlsMaterial): Promise<TrustStateWire> {
    const creds = this.#credentials(current);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#fetchPages(creds);
      } catch (err) {
        if ((err as SigilError).code !== ErrorCode.TRUST_STATE_CHANGED || attempt >= MAX_FETCH_RESTARTS) throw err;
      }
    }
  }

  async #fetchPages(creds: ChannelCredentials): Promise<TrustStateWire> {
    const first = await this.#fetchPage(creds, '');
    const serials = [...(first.revocation?.revokedSerials ?? [])];
    const ids = [...(first.revocation?.revokedSpiffeIds ?? [])];
    const policies = [...(first.policies?.policies ?? [])];
    let token = first.nextPageToken ?? '';
    for (let pages = 1; token !== ''; pages++) {
      if (pages >= MAX_TRUST_PAGES) {
        throw new SigilError(ErrorCode.INTERNAL, `the trust state did not end after ${MAX_TRUST_PAGES} pages`);
      }
      const page = await this.#fetchPage(creds, token);
      serials.push(...(page.revocation?.revokedSerials ?? []));
      ids.push(...(page.revocation?.revokedSpiffeIds ?? []));
      policies.push(...(page.policies?.policies ?? []));
      token = page.nextPageToken ?? '';
    }
    return trustOf({
      ...first,
      ...(first.revocation
        ? { revocation: { ...first.revocation, revokedSerials: serials, revokedSpiffeIds: ids } }
        : {}),
      ...(first.policies ? { policies: { ...first.policies, policies } } : {}),
    });
  }

  #fetchPage(creds: ChannelCredentials, pageToken: string): Promise<sigil.v1.TrustState> {
    return this.#call<sigil.v1.TrustState>(creds, 'fetching the trust state', (client, deadline, cb) =>
      client.fetchTrust({ pageToken, ...(pageToken === '' ? this.#report() : {}) }, { deadline }, cb),
    );
  }

  #report(): { report?: sigil.v1.ISidecarReport } {
    const report = this.#options.report?.();
    return report ? { report } : {};
  }

  #credentials(current?: TlsMaterial): ChannelCredentials {
    const verify = {
      checkServerIdentity: (_host: string, cert: { raw?: Buffer }) =>
        checkControlPlaneCertificate(cert.raw, this.#options.trustDomain),
    };
    const bundle = Buffer.from(this.#options.bundlePem());
    return current
      ? credentials.createSsl(bundle, Buffer.from(current.keyPem), Buffer.from(current.certChainPem), verify)
      : credentials.createSsl(bundle, null, null, verify);
  }

  /** A CLOCK_SKEW failure gets the skew measured from the certificate the control plane presents. */
  async #measureSkew(err: unknown, context: string, address: string): Promise<unknown> {
    if ((err as SigilError).code !== ErrorCode.CLOCK_SKEW) return err;
    const notBefore = await probeNotBefore(address, this.#options.timeoutMs ?? 10_000);
    const now = (this.#options.clock ?? systemClock).now();
    return notBefore !== undefined && notBefore > now ? clockSkewError(context, address, notBefore, now) : err;
  }

  async #call<Res>(
    creds: ChannelCredentials,
    context: string,
    invoke: (client: IdentityClient, deadline: number, cb: UnaryCallback<Res>) => unknown,
  ): Promise<Res> {
    return this.#failover.call(context, async (address) => {
      const client = new IdentityClient(address, creds, CONTROL_PLANE_CHANNEL_OPTIONS);
      try {
        return await callUnary<Res>(context, (cb) =>
          invoke(client, Date.now() + (this.#options.timeoutMs ?? 10_000), cb),
        );
      } catch (err) {
        throw await this.#measureSkew(err, context, address);
      } finally {
        client.close();
      }
    });
  }
}
