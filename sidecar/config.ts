import type { NatsAuthFiles } from './trust/nats-auth.ts';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { durationMs, hostPortField as hostPort, validateYaml } from '../common/config-findings.ts';
import { ErrorCode, SigilError } from '../common/errors.ts';
import { checkLogLevel } from '../common/logger.ts';
import { parseHostPort, type HostPort } from '../common/address.ts';
import { parseAddressList } from '../common/address-failover.ts';
import { KEY_TYPES, type KeyType } from '../common/key-type.ts';
import { parseSpiffeId } from '../common/spiffe-id.ts';

const spiffeIdText = z.string().refine(
  (text) => {
    try {
      return parseSpiffeId(text).path !== '';
    } catch {
      return false;
    }
  },
  { message: 'must be a SPIFFE ID with a path, e.g. spiffe://example.org/ns/default/sa/api' },
);

const limits = {
  idleTimeout: durationMs.default(300_000),
  maxConnectionLifetime: durationMs.optional(),
  maxConnections: z.number().int().min(1).max(1_000_000).default(10_000),
};

/** The sidecar file schema; these names are part of the product (README, examples). */
export const sidecarFileSchema = z.strictObject({
  spiffeId: spiffeIdText,
  controlPlane: z.strictObject({
    /** One replica, several (`[a, b, c]` or `a,b,c`), or a DNS name with several A records. */
    address: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    bundle: z.string().min(1),
  }),
  joinToken: z.strictObject({ file: z.string().min(1) }).optional(),
  /** x509pop attestation: a device certificate from the CA in the control plane's attestation.x509pop.caBundle. */
  x509pop: z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
  /** Keeps the SVID and its key across restarts (mode 0700); without it every start needs a join token. */
  stateDir: z.string().min(1).optional(),
  /** The longest pause between attempts to reach the control plane while no SVID is served. */
  retry: z.strictObject({ maxBackoff: durationMs.default(30_000) }).default({ maxBackoff: 30_000 }),
  keyType: z.enum(KEY_TYPES).default('ec-p256'),
  inbound: z
    .array(
      z.strictObject({
        listen: hostPort,
        forward: hostPort,
        ...limits,
        // Slowloris guards (sidecar/proxy/handshake-gate.ts): deadline from accept, caps on unfinished handshakes.
        handshakeTimeout: durationMs.default(10_000),
        maxPendingHandshakes: z.number().int().min(1).max(1_000_000).default(1024),
        maxPendingHandshakesPerSource: z.number().int().min(1).max(1_000_000).default(64),
      }),
    )
    .default([]),
  outbound: z
    .array(
      z.strictObject({
        listen: hostPort,
        upstream: hostPort,
        expect: z.union([spiffeIdText, z.array(spiffeIdText).min(1)]),
        ...limits,
      }),
    )
    .default([]),
  admin: z.strictObject({ listen: hostPort }).default({ listen: parseHostPort('127.0.0.1:15000') }),
  tls: z
    .strictObject({ minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.3') })
    .default({ minVersion: 'TLSv1.3' }),
  nats: z
    .strictObject({
      servers: z.array(z.string().regex(/^(nats|tls):\/\/[^\s]+$/, 'must be a nats:// or tls:// URL')).min(1),
      credentialsFile: z.string().optional(),
      nkeySeedFile: z.string().optional(),
      tls: z
        .strictObject({
          caFile: z.string().optional(),
          certFile: z.string().optional(),
          keyFile: z.string().optional(),
        })
        .optional(),
    })
    .optional(),
  /** TLS 1.3 session resumption between sidecars (tickets issued inbound, offered outbound). */
  resumption: z.boolean().default(true),
  revocation: z
    .strictObject({ maxStaleness: durationMs.default(600_000), failOpen: z.boolean().default(false) })
    .default({ maxStaleness: 600_000, failOpen: false }),
  /** The SPIFFE Workload API for the workload beside the sidecar; absent: not served. */
  workloadApi: z
    .strictObject({
      socket: z.string().min(1),
      mode: z
        .string()
        .regex(/^0?[0-7]{3}$/, 'must be an octal file mode like "0660"')
        .default('0660'),
    })
    .optional(),
  drainTimeout: durationMs.default(30_000),
  trustRefreshInterval: durationMs.default(60_000),
  log: z
    .strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') })
    .default({ level: 'info' }),
});

export interface ListenerLimits {
  readonly idleTimeoutMs: number;
  readonly maxConnectionLifetimeMs?: number;
  readonly maxConnections: number;
}

export interface SidecarConfig {
  readonly spiffeId: string;
  readonly trustDomain: string;
  /** `address`: every replica's host:port, tried in turn on UNAVAILABLE (see common/address-failover.ts). */
  readonly controlPlane: { readonly address: readonly string[]; readonly bundlePath: string };
  readonly joinTokenFile?: string;
  /** When set, the sidecar attests by x509pop with this device certificate and key instead of a join token. */
  readonly x509pop?: { readonly certFile: string; readonly keyFile: string };
  readonly stateDir?: string;
  readonly retryMaxBackoffMs: number;
  readonly keyType: KeyType;
  readonly inbound: readonly ({
    readonly listen: HostPort;
    readonly forward: HostPort;
    readonly handshakeTimeoutMs: number;
    readonly maxPendingHandshakes: number;
    readonly maxPendingHandshakesPerSource: number;
  } & ListenerLimits)[];
  readonly outbound: readonly ({
    readonly listen: HostPort;
    readonly upstream: HostPort;
    readonly expect: readonly string[];
  } & ListenerLimits)[];
  readonly admin: { readonly listen: HostPort };
  readonly minTlsVersion: 'TLSv1.2' | 'TLSv1.3';
  /** Issue and offer TLS 1.3 session tickets; every resumed connection is still checked as a full one. */
  readonly resumption: boolean;
  /** Absent: no event channel, trust is refreshed over gRPC only. */
  readonly natsServers: readonly string[] | undefined;
  /** How the event channel authenticates to NATS (files resolved against the config file's directory). */
  readonly natsAuth?: NatsAuthFiles;
  readonly drainTimeoutMs: number;
  /** Socket path (absolute) and file mode of the Workload API; absent when not served. */
  readonly workloadApi?: { readonly socketPath: string; readonly mode: number };
  readonly revocation: { readonly maxStalenessMs: number; readonly failOpen: boolean };
  readonly trustRefreshIntervalMs: number;
  readonly logLevel: string;
}

function limitsOf(l: {
  idleTimeout: number;
  maxConnectionLifetime?: number | undefined;
  maxConnections: number;
}): ListenerLimits {
  return {
    idleTimeoutMs: l.idleTimeout,
    maxConnections: l.maxConnections,
    ...(l.maxConnectionLifetime !== undefined ? { maxConnectionLifetimeMs: l.maxConnectionLifetime } : {}),
  };
}

function natsAuthFiles(
  nats: {
    credentialsFile?: string | undefined;
    nkeySeedFile?: string | undefined;
    tls?: Record<string, string | undefined> | undefined;
  },
  dir: string,
): { natsAuth?: NatsAuthFiles } {
  const natsAuth: NatsAuthFiles = {
    ...(nats.credentialsFile ? { credentialsFile: resolve(dir, nats.credentialsFile) } : {}),
    ...(nats.nkeySeedFile ? { nkeySeedFile: resolve(dir, nats.nkeySeedFile) } : {}),
    ...(nats.tls
      ? {
          tls: Object.fromEntries(
            Object.entries(nats.tls)
              .filter(([, v]) => v !== undefined)
              .map(([k, v]) => [k, resolve(dir, v as string)]),
          ),
        }
      : {}),
  };
  return Object.keys(natsAuth).length > 0 ? { natsAuth } : {};
}

/** Validates the YAML text; relative paths are resolved against the file's directory. */
export function parseSidecarConfig(
  text: string,
  path: string,
  env: Readonly<Record<string, string | undefined>> = {},
): SidecarConfig {
  const file = validateYaml(sidecarFileSchema, text, path);
  const dir = dirname(resolve(path));
  // One config for many replicas: each names itself (under a prefix token's path) through the environment.
  const spiffeId = env['SIGIL_SPIFFE_ID'] ? checkedSpiffeId(env['SIGIL_SPIFFE_ID']) : file.spiffeId;
  const id = parseSpiffeId(spiffeId);
  return Object.freeze({
    spiffeId,
    trustDomain: id.trustDomain,
    controlPlane: {
      address: parseAddressList(env['SIGIL_CONTROL_PLANE'] || file.controlPlane.address, 'controlPlane.address'),
      bundlePath: resolve(dir, file.controlPlane.bundle),
    },
    ...(file.joinToken ? { joinTokenFile: resolve(dir, file.joinToken.file) } : {}),
    ...(file.x509pop
      ? { x509pop: { certFile: resolve(dir, file.x509pop.certFile), keyFile: resolve(dir, file.x509pop.keyFile) } }
      : {}),
    ...(file.stateDir ? { stateDir: resolve(dir, file.stateDir) } : {}),
    retryMaxBackoffMs: file.retry.maxBackoff,
    keyType: file.keyType,
    inbound: file.inbound.map((i) => ({
      listen: i.listen,
      forward: i.forward,
      handshakeTimeoutMs: i.handshakeTimeout,
      maxPendingHandshakes: i.maxPendingHandshakes,
      maxPendingHandshakesPerSource: i.maxPendingHandshakesPerSource,
      ...limitsOf(i),
    })),
    outbound: file.outbound.map((o) => ({
      listen: o.listen,
      upstream: o.upstream,
      expect: typeof o.expect === 'string' ? [o.expect] : o.expect,
      ...limitsOf(o),
    })),
    admin: file.admin,
    minTlsVersion: file.tls.minVersion,
    resumption: file.resumption,
    natsServers: env['SIGIL_NATS_SERVERS']
      ? env['SIGIL_NATS_SERVERS']
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean)
      : file.nats?.servers,
    ...(file.nats ? natsAuthFiles(file.nats, dir) : {}),
    drainTimeoutMs: file.drainTimeout,
    ...(file.workloadApi
      ? {
          workloadApi: {
            socketPath: resolve(dir, file.workloadApi.socket),
            mode: Number.parseInt(file.workloadApi.mode, 8),
          },
        }
      : {}),
    revocation: { maxStalenessMs: file.revocation.maxStaleness, failOpen: file.revocation.failOpen },
    trustRefreshIntervalMs: file.trustRefreshInterval,
    logLevel: env['SIGIL_LOG_LEVEL'] ? checkLogLevel(env['SIGIL_LOG_LEVEL'], 'SIGIL_LOG_LEVEL') : file.log.level,
  });
}

function checkedSpiffeId(text: string): string {
  const result = spiffeIdText.safeParse(text);
  if (!result.success)
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      `SIGIL_SPIFFE_ID=${JSON.stringify(text)} must be a SPIFFE ID with a path, e.g. spiffe://example.org/ns/default/sa/api`,
    );
  return text;
}

export function loadSidecarConfig(
  path: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): SidecarConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      `cannot read sidecar config ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`,
    );
  }
  return parseSidecarConfig(text, path, env);
}
