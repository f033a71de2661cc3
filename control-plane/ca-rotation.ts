import type * as x509 from '@peculiar/x509';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../common/clock.ts';
import { ErrorCode, SigilError } from '../common/errors.ts';
import { generateKeyPair } from '../common/key-pair.ts';
import type { Logger } from '../common/logger.ts';
import { pemCertificatesToDer } from '../common/trust-bundle.ts';
import { parseX509Facts } from '../common/x509-facts.ts';
import type { ActiveCa } from './ca/active-ca.ts';
import { caFilePaths, CA_FILE_NAMES, type CaMetadata } from './ca/ca-files.ts';
import {
  activateCaFiles,
  caPhase,
  prepareCaFiles,
  readCaMetadata,
  requiredRoots,
  retireCaFiles,
  writeBundleFiles,
  type CaPhase,
} from './ca/ca-rotation-files.ts';
import { ADMIN_SVID_TTL_MS } from './ca/init-ca.ts';
import { certificatePem, parseCertificatesPem } from './ca/issued-certificate.ts';
import { privateKeyPem } from './ca/key-file.ts';
import { replaceFile } from './ca/replace-file.ts';
import { loadCa } from './ca/load-ca.ts';
import { recordCaFiles, recordOf } from './lifecycle/inventory.ts';
import type { RotationScheduleInput } from './ca/rotation-schedule.ts';
import type { RotationOrderService } from './rotation/rotation-orders.ts';
import type { CertificateRecord } from './store/store.ts';
import { publishBundle, type TrustAnchorDeps } from './trust-anchors.ts';

export interface CaCertificateSummary {
  readonly serial: string;
  readonly subject: string;
  readonly notBefore: number;
  readonly notAfter: number;
}

export interface CaGenerationSummary {
  readonly root: CaCertificateSummary;
  readonly intermediate: CaCertificateSummary;
  readonly rootKeyOnline: boolean;
}

export interface CaRotationStatus {
  readonly trustDomain: string;
  readonly phase: CaPhase;
  readonly current: CaGenerationSummary;
  readonly next?: CaGenerationSummary;
  readonly previous?: Omit<CaGenerationSummary, 'rootKeyOnline'>;
  readonly intermediateOnly: boolean;
  readonly bundle: readonly CaCertificateSummary[];
  readonly bundleSequence: number;
}

export interface CaRotationDeps extends TrustAnchorDeps {
  readonly active: ActiveCa;
  readonly dataDir: string;
  /** Decrypts and encrypts CA keys. Never logged. */
  readonly passphrase: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly orders: RotationOrderService;
  /** Least time between prepare and a manual activate without --force (caRotation.propagation). */
  readonly propagationMs: number;
  /** Re-mints the control plane's serving SVID: after a new signer or a new bundle. */
  readonly renewServing: () => Promise<void>;
  readonly onCaChanged?: () => void;
  /**
   * Wraps every step: with several replicas, the cluster lock `ca` with the CA state pulled before and stored after
   * (see ha/ca-state-sync.ts). Default: the step alone.
   */
  readonly around?: <T>(step: () => Promise<T>) => Promise<T>;
  /** The JWT-SVID keys, rotated by the same steps; each returns true when the published keys changed. */
  readonly jwtKeys?: { prepare(): Promise<boolean>; activate(): Promise<boolean>; retire(): Promise<boolean> };
}

/** The reason on the renewal order an activation sends. */
const ACTIVATE_REASON = 'ca-activate';

function summary(cert: x509.X509Certificate): CaCertificateSummary {
  return {
    serial: cert.serialNumber.toLowerCase(),
    subject: cert.subject,
    notBefore: cert.notBefore.getTime(),
    notAfter: cert.notAfter.getTime(),
  };
}

async function certificateAt(dataDir: string, name: string): Promise<x509.X509Certificate> {
  const [cert] = parseCertificatesPem(await readFile(join(dataDir, name), 'utf8'));
  if (!cert)
    throw new SigilError(ErrorCode.CA_INVALID, `${join(dataDir, name)} holds no certificate: restore it from a backup`);
  return cert;
}

/**
 * At start, before the bundle is served: every root the committed rotation state needs is put back into the bundle
 * (a step interrupted by a crash between ca.json and bundle.pem), so a restart resumes where the last step ended.
 */
export async function resumeCaRotation(dataDir: string, active: ActiveCa, logger: Logger): Promise<CaPhase> {
  const { phase } = await reconcileBundle(dataDir, active, logger);
  if (phase !== 'stable') logger.info({ phase }, 'CA rotation in progress');
  return phase;
}

/** Puts every root the committed state needs into memory and the bundle files; says how many were missing. */
async function reconcileBundle(
  dataDir: string,
  active: ActiveCa,
  logger: Logger,
): Promise<{ phase: CaPhase; added: number }> {
  const meta = await readCaMetadata(dataDir);
  let added = 0;
  for (const root of await requiredRoots(dataDir, meta)) if (await active.addRoot(root)) added++;
  // loadCa may already hold them in memory while bundle.pem still lacks them: the file is checked on its own.
  const paths = caFilePaths(dataDir, { ...CA_FILE_NAMES, ...meta.files });
  const inFile = new Set(
    pemCertificatesToDer(await readFile(paths.bundle, 'utf8')).map((der) => Buffer.from(der).toString('base64')),
  );
  const fileStale = active.rootsDer().some((der) => !inFile.has(Buffer.from(der).toString('base64')));
  if (added > 0 || fileStale) {
    await writeBundleFiles(dataDir, meta, active.bundlePem());
    logger.warn({ added }, 'CA rotation: the bundle lacked roots the committed rotation state needs; restored');
  }
  return { phase: caPhase(meta), added };
}

/**
 * Staged CA rotation in a running control plane (DESIGN.md section 2): prepare (next root into the bundle, pushed),
 * activate (next intermediate signs; every workload ordered to renew), retire (previous root out of the bundle once
 * nothing live chains to it). Every step commits on disk first (ca.json), then changes memory and pushes;
 * `resumeCaRotation` brings memory and the bundle in line with disk after a restart.
 */
export class CaRotation {
  readonly #deps: CaRotationDeps;
  /** Steps run one at a time (an operator and the schedule may ask at once): each reads the state the last left. */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(deps: CaRotationDeps) {
    this.#deps = deps;
  }

  async status(): Promise<CaRotationStatus> {
    const { dataDir, active, trust } = this.#deps;
    const meta = await readCaMetadata(dataDir);
    const generation = async (rootCert: string, intermediateCert: string) => ({
      root: summary(await certificateAt(dataDir, rootCert)),
      intermediate: summary(await certificateAt(dataDir, intermediateCert)),
    });
    return {
      trustDomain: meta.trustDomain,
      phase: caPhase(meta),
      current: {
        ...(await generation(meta.files.rootCert, meta.files.intermediateCert)),
        rootKeyOnline: meta.rootKeyOffline !== true,
      },
      ...(meta.next
        ? {
            next: {
              ...(await generation(meta.next.rootCert, meta.next.intermediateCert)),
              rootKeyOnline: !meta.next.rootKeyOffline,
            },
          }
        : {}),
      ...(meta.previous ? { previous: await generation(meta.previous.rootCert, meta.previous.intermediateCert) } : {}),
      intermediateOnly: meta.next?.intermediateOnly ?? meta.previous?.intermediateOnly ?? false,
      bundle: active.roots.map(summary),
      bundleSequence: Number(trust.trustState().bundleSequence ?? 0),
    };
  }

  /** What the automatic schedule decides on (see rotation-schedule.ts). */
  async scheduleState(): Promise<Omit<RotationScheduleInput, 'now' | 'intermediateTtlMs'>> {
    const { dataDir, active } = this.#deps;
    const meta = await readCaMetadata(dataDir);
    const root = await certificateAt(dataDir, meta.files.rootCert);
    return {
      phase: caPhase(meta),
      intermediate: {
        notBefore: active.intermediate.notBefore.getTime(),
        notAfter: active.intermediate.notAfter.getTime(),
      },
      root: { notAfter: root.notAfter.getTime() },
      rootKeyOnline: meta.rootKeyOffline !== true,
      ...(meta.next ? { preparedAt: Date.parse(meta.next.preparedAt) } : {}),
      ...(meta.previous ? { activatedAt: Date.parse(meta.previous.activatedAt) } : {}),
    };
  }

  prepare(options: {
    intermediateOnly: boolean;
    rootKeyPem?: string;
  }): Promise<{ status: CaRotationStatus; newRootKeyPem?: string }> {
    return this.#serialised(() => this.#prepare(options));
  }

  activate(options: { windowMs?: number; force?: boolean }): Promise<{ status: CaRotationStatus; orderId: string }> {
    return this.#serialised(() => this.#activate(options));
  }

  retire(): Promise<{ status: CaRotationStatus; blockers: CertificateRecord[] }> {
    return this.#serialised(() => this.#retire());
  }

  /** Each step first repairs what an earlier one left half done (a root committed but not in the bundle). */
  #serialised<T>(step: () => Promise<T>): Promise<T> {
    const around = this.#deps.around ?? (<R>(f: () => Promise<R>) => f());
    const run = this.#tail.then(() =>
      around(async () => {
        const { added } = await reconcileBundle(this.#deps.dataDir, this.#deps.active, this.#deps.logger);
        if (added > 0) await this.#bundleChanged();
        return step();
      }),
    );
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #prepare(options: {
    intermediateOnly: boolean;
    rootKeyPem?: string;
  }): Promise<{ status: CaRotationStatus; newRootKeyPem?: string }> {
    const { dataDir, passphrase, clock, active, store, logger } = this.#deps;
    const prepared = await prepareCaFiles({
      dataDir,
      passphrase,
      now: clock.now(),
      intermediateOnly: options.intermediateOnly,
      ...(options.rootKeyPem ? { rootKeyPem: options.rootKeyPem } : {}),
    });
    if (prepared.issued.root) await store.insertCertificate(this.#caRecord(prepared.root, 'root', null));
    await store.insertCertificate(
      this.#caRecord(prepared.intermediate, 'intermediate', prepared.root.serialNumber.toLowerCase()),
    );
    const rootAdded = await active.addRoot(prepared.root);
    if (rootAdded) await writeBundleFiles(dataDir, prepared.meta, active.bundlePem());
    // The next JWT key is published now, like the new root, and signs only after activate.
    const jwtAdded = (await this.#deps.jwtKeys?.prepare()) ?? false;
    if (rootAdded || jwtAdded) await this.#bundleChanged();
    logger.info(
      {
        root: prepared.root.serialNumber.toLowerCase(),
        intermediate: prepared.intermediate.serialNumber.toLowerCase(),
        intermediate_only: options.intermediateOnly,
      },
      'CA rotation prepared',
    );
    return {
      status: await this.status(),
      ...(prepared.newRootKeyPem ? { newRootKeyPem: prepared.newRootKeyPem } : {}),
    };
  }

  async #activate(options: {
    windowMs?: number;
    force?: boolean;
  }): Promise<{ status: CaRotationStatus; orderId: string }> {
    const { dataDir, clock, propagationMs } = this.#deps;
    const meta = await readCaMetadata(dataDir);
    if (caPhase(meta) === 'prepared' && options.force !== true) {
      const readyAt = Date.parse(meta.next!.preparedAt) + propagationMs;
      if (clock.now() < readyAt) {
        throw new SigilError(
          ErrorCode.CA_ROTATION_STATE,
          `the new root was pushed ${Math.round((clock.now() - Date.parse(meta.next!.preparedAt)) / 1000)}s ago: a sidecar that has not fetched it yet could not verify the control plane once the new CA signs. Wait until ${new Date(readyAt).toISOString()} (caRotation.propagation), or pass --force once every sidecar reports two roots`,
        );
      }
    }
    // Prepared: commit the activation. Activated but cut short (signer not swapped, no order sent): finish it.
    if (caPhase(meta) !== 'activated' || !(await this.#activationUnfinished(meta)))
      await activateCaFiles({ dataDir, now: clock.now() });
    if (await this.#deps.jwtKeys?.activate()) await this.#bundleChanged();
    const orderId = await this.#finishActivation(options.windowMs ?? 0);
    return { status: await this.status(), orderId };
  }

  /**
   * At start: an activation committed in ca.json but cut short by a crash is finished — the admin credential
   * re-issued under the new intermediate and the renewal order sent — so retire is not blocked for good.
   */
  completeActivation(options: { windowMs: number }): Promise<void> {
    return this.#serialised(async () => {
      const meta = await readCaMetadata(this.#deps.dataDir);
      if (meta.previous && (await this.#activationUnfinished(meta))) await this.#finishActivation(options.windowMs);
    });
  }

  /** The new intermediate signs, the admin credential is under it, and the renewal order went out. */
  async #finishActivation(windowMs: number): Promise<string> {
    const { dataDir, passphrase, active, store, logger, orders } = this.#deps;
    const meta = await readCaMetadata(dataDir);
    const paths = caFilePaths(dataDir, { ...CA_FILE_NAMES, ...meta.files });
    if (
      active.intermediateSerial !==
      (await certificateAt(dataDir, meta.files.intermediateCert)).serialNumber.toLowerCase()
    ) {
      const loaded = await loadCa({ dataDir, passphrase });
      for (const root of active.roots) await loaded.ca.addRoot(root);
      active.swap(loaded.ca);
      this.#deps.onCaChanged?.();
      await this.#deps.renewServing();
    }
    const adminIssuer = await this.#adminIssuerSerial(paths.adminSvid);
    if (adminIssuer !== undefined && adminIssuer !== active.intermediateSerial) await this.#reissueAdmin(meta);
    await recordCaFiles(store, paths, meta.trustDomain);
    let orderId = await this.#activationOrder(meta);
    if (orderId === undefined) {
      orderId = (await orders.order({ all: true, ...(windowMs > 0 ? { windowMs } : {}) }, ACTIVATE_REASON)).order
        .orderId;
    }
    logger.info(
      { intermediate: active.intermediateSerial, order_id: orderId },
      'CA rotation activated: the new intermediate signs; every workload renews inside the window',
    );
    return orderId;
  }

  async #activationOrder(meta: CaMetadata): Promise<string | undefined> {
    if (!meta.previous) return undefined;
    const since = await this.#deps.store.listRotationOrders(Date.parse(meta.previous.activatedAt) - 1);
    return since.find((o) => o.reason === ACTIVATE_REASON)?.orderId;
  }

  async #activationUnfinished(meta: CaMetadata): Promise<boolean> {
    const { dataDir, active } = this.#deps;
    const current = (await certificateAt(dataDir, meta.files.intermediateCert)).serialNumber.toLowerCase();
    const admin = await this.#adminIssuerSerial(caFilePaths(dataDir, { ...CA_FILE_NAMES, ...meta.files }).adminSvid);
    return (
      active.intermediateSerial !== current ||
      (admin !== undefined && admin !== current) ||
      (await this.#activationOrder(meta)) === undefined
    );
  }

  async #adminIssuerSerial(path: string): Promise<string | undefined> {
    try {
      const [, issuer] = pemCertificatesToDer(await readFile(path, 'utf8'));
      return issuer ? parseX509Facts(issuer).serial : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Live certificates that would stop verifying if the previous root left the bundle: every unexpired, unrevoked
   * workload or admin certificate from the previous intermediate that no renewal has replaced (several instances
   * may share one SPIFFE ID: each has its own lineage), and the control plane's serving certificate if its newest is
   * still from there.
   */
  async blockers(): Promise<CertificateRecord[]> {
    const { dataDir, store, clock } = this.#deps;
    const meta = await readCaMetadata(dataDir);
    if (!meta.previous || meta.previous.intermediateOnly) return [];
    const oldIntermediate = (await certificateAt(dataDir, meta.previous.intermediateCert)).serialNumber.toLowerCase();
    const live = await store.listCertificates({ status: 'active', notAfterAfter: clock.now() });
    const held = live.filter((c) => (c.kind === 'svid' || c.kind === 'admin') && !c.supersededBy);
    // The serving certificate is re-minted in memory and only the newest one is in use.
    const newestServing = live
      .filter((c) => c.kind === 'control-plane')
      .reduce<CertificateRecord | undefined>((a, c) => (!a || c.issuedAt > a.issuedAt ? c : a), undefined);
    return [...held, ...(newestServing ? [newestServing] : [])]
      .filter((c) => c.issuerSerial === oldIntermediate)
      .sort((a, b) => a.spiffeId.localeCompare(b.spiffeId) || a.serial.localeCompare(b.serial));
  }

  async #retire(): Promise<{ status: CaRotationStatus; blockers: CertificateRecord[] }> {
    const meta = await readCaMetadata(this.#deps.dataDir);
    // An activation cut short is finished first: retiring under it would strand the old signer's certificates.
    if (meta.previous && (await this.#activationUnfinished(meta))) await this.#finishActivation(0);
    const { dataDir, active, logger } = this.#deps;
    const blockers = await this.blockers();
    if (blockers.length > 0) return { status: await this.status(), blockers };
    const { removedRoot } = await retireCaFiles({ dataDir }, (root) => {
      const der = new Uint8Array(root.rawData);
      return active.roots
        .filter((r) => !Buffer.from(r.rawData).equals(Buffer.from(der)))
        .map(certificatePem)
        .join('');
    });
    const rootRemoved = removedRoot !== undefined && active.removeRoot(new Uint8Array(removedRoot.rawData));
    const jwtRemoved = (await this.#deps.jwtKeys?.retire()) ?? false;
    if (rootRemoved || jwtRemoved) await this.#bundleChanged();
    logger.info({ removed_root: removedRoot?.serialNumber.toLowerCase() ?? null }, 'CA rotation retired');
    return { status: await this.status(), blockers: [] };
  }

  /** New bundle: persisted sequence moves, every sidecar hears of it, and the gRPC server trusts exactly it. */
  async #bundleChanged(): Promise<void> {
    await this.#deps.trust.load(this.#deps.store);
    await publishBundle(this.#deps);
    await this.#deps.renewServing();
  }

  #caRecord(cert: x509.X509Certificate, kind: 'root' | 'intermediate', issuerSerial: string | null): CertificateRecord {
    const facts = parseX509Facts(new Uint8Array(cert.rawData));
    return {
      serial: facts.serial,
      spiffeId: `spiffe://${this.#deps.active.trustDomain}`,
      kind,
      keyType: this.#deps.active.keyType,
      notBefore: facts.notBefore,
      notAfter: facts.notAfter,
      issuerSerial,
      status: 'active',
      issuedAt: this.#deps.clock.now(),
      publicKeySha256: facts.spkiSha256,
      der: facts.der,
    };
  }

  /** The operator's admin credential must chain to the new root before the old one can go: a new key and SVID. */
  async #reissueAdmin(meta: CaMetadata): Promise<void> {
    const paths = caFilePaths(this.#deps.dataDir, { ...CA_FILE_NAMES, ...meta.files });
    let adminId: string | undefined;
    let oldSerial: string | undefined;
    try {
      const [der] = pemCertificatesToDer(await readFile(paths.adminSvid, 'utf8'));
      const facts = der ? parseX509Facts(der) : undefined;
      adminId = facts?.uriSans[0];
      oldSerial = facts?.serial;
    } catch {
      adminId = undefined;
    }
    if (!adminId) return;
    const keys = await generateKeyPair(this.#deps.active.keyType);
    const now = this.#deps.clock.now();
    const leaf = await this.#deps.active.issueLeaf({
      spiffeId: adminId,
      publicKey: keys.publicKey,
      ttlMs: ADMIN_SVID_TTL_MS,
      now,
    });
    // Key first: a reader that sees the new SVID must find its key already in place.
    await replaceFile(paths.adminKey, privateKeyPem(keys.privateKey), 0o600);
    await replaceFile(paths.adminSvid, leaf.pem + this.#deps.active.chainPem(), 0o644);
    await this.#deps.store.insertCertificate(
      recordOf(leaf, adminId, 'admin', leaf.issuerSerial, now),
      oldSerial === undefined ? {} : { supersedes: oldSerial },
    );
  }
}
