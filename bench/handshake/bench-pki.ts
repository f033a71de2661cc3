import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatHostPort } from '../../common/address.ts';
import { makeCsr } from '../../common/csr-builder.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { generateKeyPair, privateKeyPemOf } from '../../common/key-pair.ts';
import type { KeyType } from '../../common/key-type.ts';
import { silentLogger } from '../../common/logger.ts';
import { AdminApi, ControlPlane, initCa, resolveControlPlaneConfig } from '../../control-plane/index.ts';
import { GrpcIdentityApi } from '../../sidecar/index.ts';
import type { CredentialFiles } from './protocol.ts';

export const BENCH_TRUST_DOMAIN = 'bench.example';
export const SERVER_ID = `spiffe://${BENCH_TRUST_DOMAIN}/ns/bench/sa/server`;
export const CLIENT_ID = `spiffe://${BENCH_TRUST_DOMAIN}/ns/bench/sa/load-client`;
const PASSPHRASE = 'bench passphrase, temporary CA';

/** The benchmark's identity system: a real control plane (in this process: it idles while load runs) and its CA. */
export interface BenchPki {
  readonly keyType: KeyType;
  readonly grpcAddress: string;
  /** The bootstrap bundle as `sigil ca init` wrote it. */
  readonly bundlePath: string;
  /** The load client's SVID, issued through Attest like any workload's. */
  readonly client: CredentialFiles;
  /** A one-use join token for `spiffeId`. */
  createToken(spiffeId: string): Promise<string>;
  /** Issues an SVID for `spiffeId` into `dir` (a key made here, a CSR, Attest with a fresh token). */
  issue(spiffeId: string, dir: string): Promise<CredentialFiles>;
  stop(): Promise<void>;
}

/** The admin call that pushes allow-policies, where the admin client already offers it. */
interface PolicyAdmin {
  applyPolicies(request: { yaml: string; source: string; dryRun: boolean }): Promise<{
    applied?: boolean | null;
    findings?: readonly { severity?: string | null; message?: string | null }[] | null;
  }>;
}

function hasPolicyAdmin(admin: object): admin is PolicyAdmin {
  return typeof (admin as Partial<PolicyAdmin>).applyPolicies === 'function';
}

/**
 * Creates a CA (key type `keyType` for the CA and every SVID) in `dir`, starts the control plane on loopback, lets the
 * load client call the server (an allow-policy, where the control plane has them) and issues the client's SVID.
 */
export async function startBenchPki(dir: string, keyType: KeyType): Promise<BenchPki> {
  const dataDir = join(dir, 'cp');
  await initCa({ dataDir, trustDomain: BENCH_TRUST_DOMAIN, keyType, passphrase: PASSPHRASE, now: Date.now() });
  const config = resolveControlPlaneConfig({
    env: { SIGIL_LISTEN_GRPC: '127.0.0.1:0', SIGIL_LISTEN_HTTP: '127.0.0.1:0' },
    flags: { dataDir },
    cwd: dataDir,
  });
  const controlPlane = new ControlPlane({ config, passphrase: PASSPHRASE }, { logger: silentLogger() });
  const grpcAddress = formatHostPort((await controlPlane.start()).grpc);
  const admin = new AdminApi({ address: grpcAddress, credentialsDir: join(dataDir, 'admin') });
  const bundlePath = join(dataDir, 'bundle.pem');
  const bundlePem = readFileSync(bundlePath, 'utf8');
  const identity = new GrpcIdentityApi({
    address: grpcAddress,
    trustDomain: BENCH_TRUST_DOMAIN,
    bundlePem: () => bundlePem,
  });
  const createToken = async (spiffeId: string) =>
    (await admin.createJoinToken({ spiffeId, ttlSeconds: 600, uses: 1 })).token;

  async function issue(spiffeId: string, outDir: string): Promise<CredentialFiles> {
    mkdirSync(outDir, { recursive: true, mode: 0o700 });
    const keys = await generateKeyPair(keyType);
    const issued = await identity.attest(await createToken(spiffeId), await makeCsr({ spiffeId, keys }));
    const files: CredentialFiles = {
      certChainPath: join(outDir, 'svid.pem'),
      keyPath: join(outDir, 'key.pem'),
      bundlePath: join(outDir, 'bundle.pem'),
    };
    writeFileSync(files.keyPath, privateKeyPemOf(keys.privateKey), { mode: 0o600 });
    writeFileSync(files.certChainPath, issued.chain.map((der) => new X509Certificate(der).toString()).join(''));
    writeFileSync(files.bundlePath, issued.trust.roots.map((der) => new X509Certificate(der).toString()).join(''));
    return files;
  }

  try {
    await allowClientToServer(admin);
    const client = await issue(CLIENT_ID, join(dir, 'client'));
    return {
      keyType,
      grpcAddress,
      bundlePath,
      client,
      createToken,
      issue,
      async stop() {
        admin.close();
        await controlPlane.stop();
      },
    };
  } catch (err) {
    admin.close();
    await controlPlane.stop();
    throw err;
  }
}

/** Sidecars deny by default: the benchmark's client must be allowed to reach the server through an AllowPolicy. */
async function allowClientToServer(admin: AdminApi): Promise<void> {
  if (!hasPolicyAdmin(admin)) return;
  const yaml = [
    'apiVersion: sigil.dev/v1',
    'kind: AllowPolicy',
    'metadata: { name: bench-load-client-to-server }',
    'spec:',
    `  destination: ${SERVER_ID}`,
    '  mode: enforce',
    '  allow:',
    `    - from: ${CLIENT_ID}`,
    '',
  ].join('\n');
  const result = await admin.applyPolicies({ yaml, source: 'bench/handshake', dryRun: false });
  const errors = (result.findings ?? []).filter((f) => f.severity === 'error');
  if (errors.length > 0) {
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      `the benchmark's allow-policy was refused: ${errors.map((f) => f.message).join('; ')}`,
    );
  }
}
