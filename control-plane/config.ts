import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { durationMs, hostPortField as hostPort, validateYaml } from '../common/config-findings.ts';
import { parseDuration } from '../common/duration.ts';
import { ErrorCode, SigilError } from '../common/errors.ts';
import { checkLogLevel } from '../common/logger.ts';
import { parseHostPort, type HostPort } from '../common/address.ts';
import { parseTrustDomain } from '../common/spiffe-id.ts';
import { checkX509PopTemplate, DEFAULT_X509POP_TEMPLATE } from './issuance/x509pop-template.ts';
import { acmeSettings, acmeSectionSchema, type AcmeSettings } from './acme/acme-config.ts';
import {
  type AlertSettings,
  alertSettings,
  alertsSectionSchema,
  type DiscoverySettings,
  discoverySectionSchema,
} from './lifecycle/lifecycle-config.ts';
import { type PostgresStoreConfig, resolvePostgresConfig, storeFileSchema } from './store/store-config.ts';

const DAY_MS = 86_400_000;
/** A year: what compliance reviews of a CA usually ask to see. */
const AUDIT_RETENTION_MS = 365 * DAY_MS;
const FLEET_FORGET_MS = 7 * DAY_MS;

/** The file schema: names here are part of the product (README, examples). Defaults live in the schema. */
export const controlPlaneFileSchema = z.strictObject({
  trustDomain: z.string().optional(),
  dataDir: z.string().default('./data'),
  listen: z
    .strictObject({
      grpc: hostPort.default(parseHostPort('127.0.0.1:7443')),
      http: hostPort.default(parseHostPort('127.0.0.1:7080')),
    })
    .default({ grpc: parseHostPort('127.0.0.1:7443'), http: parseHostPort('127.0.0.1:7080') }),
  svid: z.strictObject({ ttl: durationMs.default(3_600_000) }).default({ ttl: 3_600_000 }),
  joinTokens: z.strictObject({ defaultTtl: durationMs.default(900_000) }).default({ defaultTtl: 900_000 }),
  /** JWT-SVIDs: the signing key's algorithm (for a key created from now on) and the tokens' lifetime. */
  jwt: z
    .strictObject({ algorithm: z.enum(['ES256', 'RS256']).default('ES256'), ttl: durationMs.default(300_000) })
    .default({ algorithm: 'ES256', ttl: 300_000 }),
  store: storeFileSchema,
  nats: z
    .strictObject({
      servers: z.array(z.string().regex(/^(nats|tls):\/\/\S+$/, 'must be a nats:// or tls:// URL')).min(1),
      tls: z
        .strictObject({
          caFile: z.string().optional(),
          certFile: z.string().optional(),
          keyFile: z.string().optional(),
        })
        .optional(),
      credentialsFile: z.string().optional(),
      nkeySeedFile: z.string().optional(),
    })
    .optional(),
  policy: z
    .strictObject({ defaultAction: z.enum(['deny', 'allow']).default('deny') })
    .default({ defaultAction: 'deny' }),
  caRotation: z
    .strictObject({
      auto: z.boolean().default(true),
      propagation: durationMs.default(600_000),
      activateWindow: durationMs.default(3_600_000),
    })
    .default({ auto: true, propagation: 600_000, activateWindow: 3_600_000 }),
  /** The audit log of admin calls: entries older than `retention` are pruned by the leader (hourly). */
  audit: z
    .strictObject({ retention: durationMs.default(AUDIT_RETENTION_MS) })
    .default({ retention: AUDIT_RETENTION_MS }),
  /** The fleet view: a sidecar not heard from for `staleAfter` is stale; after `forgetAfter` it is dropped. */
  fleet: z
    .strictObject({ staleAfter: durationMs.default(300_000), forgetAfter: durationMs.default(FLEET_FORGET_MS) })
    .default({ staleAfter: 300_000, forgetAfter: FLEET_FORGET_MS }),
  /** Public certificates obtained and renewed over ACME (control-plane/acme). */
  acme: acmeSectionSchema.optional(),
  /** Node attestation besides join tokens: x509pop (SPIRE's), for machines holding a device-CA certificate. */
  attestation: z
    .strictObject({
      x509pop: z
        .strictObject({
          caBundle: z.string().min(1),
          spiffeIdTemplate: z.string().min(1).default(DEFAULT_X509POP_TEMPLATE),
        })
        .optional(),
    })
    .default({}),
  /** Expiry alerts over the whole inventory and where they are delivered (control-plane/lifecycle). */
  alerts: alertsSectionSchema,
  /** Endpoints whose served certificates the control plane records on a schedule. */
  discovery: discoverySectionSchema,
  /** Several replicas on one PostgreSQL store (ignored on SQLite). */
  replicas: z
    .strictObject({
      reloadInterval: durationMs.default(30_000),
      leaderPoll: durationMs.default(1_000),
      hungLeaderTimeout: durationMs.default(10_000),
    })
    .default({ reloadInterval: 30_000, leaderPoll: 1_000, hungLeaderTimeout: 10_000 }),
  /** The operator dashboard (control-plane/dashboard); absent: not served. HTTPS when tls is given. */
  dashboard: z
    .strictObject({
      listen: hostPort.default(parseHostPort('127.0.0.1:7081')),
      tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
      /** The address browsers reach the dashboard at (a proxy in front), used in login URLs. */
      publicUrl: z.url({ protocol: /^https?$/ }).optional(),
    })
    .optional(),
  log: z
    .strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') })
    .default({ level: 'info' }),
});

export interface ControlPlaneConfig {
  readonly trustDomain: string | undefined;
  readonly dataDir: string;
  readonly listen: { readonly grpc: HostPort; readonly http: HostPort };
  readonly svidTtlMs: number;
  readonly jwt: { readonly algorithm: 'ES256' | 'RS256'; readonly ttlMs: number };
  readonly joinTokenTtlMs: number;
  /** Absolute path of the SQLite file; `<dataDir>/sigil.db` when not configured. */
  readonly sqlitePath: string;
  /** Set: the store is PostgreSQL (several replicas share it) and sqlitePath is unused. */
  readonly postgres: PostgresStoreConfig | undefined;
  /**
   * With PostgreSQL: the full reload that backs change notifications, how often followers ask for the singleton
   * lock (the takeover bound after a crash), and after how long of silence PostgreSQL ends a frozen leader's session.
   */
  readonly replicas: {
    readonly reloadIntervalMs: number;
    readonly leaderPollMs: number;
    readonly hungLeaderTimeoutMs: number;
  };
  readonly logLevel: string;
  /** Absent: no dashboard. tls set: HTTPS with HSTS, cookies Secure. */
  readonly dashboard: DashboardSettings | undefined;
  /** For destinations no policy names: 'deny' (default); 'allow' exists for roll-out. */
  readonly policyDefaultAction: 'deny' | 'allow';
  /** Attest calls per source address and 10 s (token guessing); 0: unlimited. SIGIL_ATTEST_PER_SOURCE_LIMIT. */
  readonly attestPerSourceLimit: number;
  /** Automatic staged CA rotation (prepare at half the intermediate's life, ...); auto: false leaves it to operators. */
  readonly caRotation: { readonly auto: boolean; readonly propagationMs: number; readonly activateWindowMs: number };
  readonly audit: { readonly retentionMs: number };
  readonly fleet: { readonly staleAfterMs: number; readonly forgetAfterMs: number };
  /** ACME accounts, certificates and challenge listeners; absent: no ACME duty. */
  readonly acme: AcmeSettings | undefined;
  /** x509pop attestation; absent: only join tokens attest. The bundle is read when the server starts. */
  readonly x509pop: { readonly caBundleFile: string; readonly spiffeIdTemplate: string } | undefined;
  readonly alerts: AlertSettings;
  readonly discovery: DiscoverySettings;
  /** Absent: no event channel; sidecars converge through FetchTrust alone. */
  readonly nats:
    | {
        readonly servers: readonly string[];
        readonly tls?: { caFile?: string; certFile?: string; keyFile?: string };
        readonly credentialsFile?: string;
        readonly nkeySeedFile?: string;
      }
    | undefined;
}

export interface DashboardSettings {
  readonly listen: HostPort;
  readonly tls: { readonly certFile: string; readonly keyFile: string } | undefined;
  readonly publicUrl: string | undefined;
}

export interface ConfigSources {
  /** Contents and path of the YAML file, when one was given. */
  readonly file?: { readonly path: string; readonly text: string };
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly flags: { readonly dataDir?: string | undefined };
  readonly cwd: string;
}

/**
 * Merges file < environment (`SIGIL_*`) < flags. Paths in the file are relative to the file; paths from the
 * environment and flags are relative to the working directory.
 */
export function resolveControlPlaneConfig(sources: ConfigSources): ControlPlaneConfig {
  const fileDir = sources.file ? dirname(resolve(sources.cwd, sources.file.path)) : sources.cwd;
  const file = sources.file
    ? validateYaml(controlPlaneFileSchema, sources.file.text, sources.file.path)
    : controlPlaneFileSchema.parse({});
  const env = sources.env;
  const dataDir = sources.flags.dataDir ?? env['SIGIL_DATA_DIR'];
  const resolvedDataDir = dataDir !== undefined ? resolve(sources.cwd, dataDir) : resolve(fileDir, file.dataDir);
  const trustDomain = env['SIGIL_TRUST_DOMAIN'] ?? file.trustDomain;
  if (trustDomain !== undefined) parseTrustDomain(trustDomain);
  const sqlite =
    env['SIGIL_STORE_SQLITE'] ?? (file.store.sqlite !== undefined ? resolve(fileDir, file.store.sqlite) : undefined);
  return Object.freeze({
    trustDomain,
    dataDir: resolvedDataDir,
    listen: Object.freeze({
      grpc: envOr(env, 'SIGIL_LISTEN_GRPC', file.listen.grpc, (v) => parseHostPort(v, 'SIGIL_LISTEN_GRPC')),
      http: envOr(env, 'SIGIL_LISTEN_HTTP', file.listen.http, (v) => parseHostPort(v, 'SIGIL_LISTEN_HTTP')),
    }),
    svidTtlMs: envOr(env, 'SIGIL_SVID_TTL', file.svid.ttl, parseDuration),
    joinTokenTtlMs: file.joinTokens.defaultTtl,
    sqlitePath: sqlite !== undefined ? resolve(sources.cwd, sqlite) : resolve(resolvedDataDir, 'sigil.db'),
    postgres: resolvePostgresConfig(file.store.postgres, env, { fileDir, cwd: sources.cwd }),
    replicas: Object.freeze({
      reloadIntervalMs: file.replicas.reloadInterval,
      leaderPollMs: file.replicas.leaderPoll,
      hungLeaderTimeoutMs: file.replicas.hungLeaderTimeout,
    }),
    dashboard: dashboardSettings(file.dashboard, env, fileDir),
    logLevel: env['SIGIL_LOG_LEVEL'] ? checkLogLevel(env['SIGIL_LOG_LEVEL'], 'SIGIL_LOG_LEVEL') : file.log.level,
    policyDefaultAction: envOr(env, 'SIGIL_POLICY_DEFAULT_ACTION', file.policy.defaultAction, parseDefaultAction),
    attestPerSourceLimit: envOr(env, 'SIGIL_ATTEST_PER_SOURCE_LIMIT', DEFAULT_ATTEST_PER_SOURCE_LIMIT, parseLimit),
    nats: natsConfig(env['SIGIL_NATS_SERVERS'], file.nats, fileDir),
    x509pop: x509popSettings(file.attestation.x509pop, fileDir),
    acme: file.acme ? acmeSettings(file.acme, fileDir, sources.file?.path ?? 'configuration') : undefined,
    jwt: Object.freeze({ algorithm: file.jwt.algorithm, ttlMs: file.jwt.ttl }),
    audit: Object.freeze({ retentionMs: file.audit.retention }),
    fleet: Object.freeze({ staleAfterMs: file.fleet.staleAfter, forgetAfterMs: file.fleet.forgetAfter }),
    alerts: alertSettings(file.alerts, fileDir),
    discovery: Object.freeze({
      targets: Object.freeze([...file.discovery.targets]),
      everyMs: file.discovery.every,
      timeoutMs: file.discovery.timeout,
    }),
    caRotation: Object.freeze({
      auto: envOr(env, 'SIGIL_CA_ROTATION_AUTO', file.caRotation.auto, parseBoolean('SIGIL_CA_ROTATION_AUTO')),
      propagationMs: file.caRotation.propagation,
      activateWindowMs: file.caRotation.activateWindow,
    }),
  });
}

function natsConfig(
  envServers: string | undefined,
  file: z.output<typeof controlPlaneFileSchema>['nats'],
  fileDir: string,
): ControlPlaneConfig['nats'] {
  const servers = envServers
    ? envServers
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
    : file?.servers;
  if (!servers || servers.length === 0) return undefined;
  const tls = file?.tls
    ? Object.fromEntries(
        Object.entries(file.tls)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => [k, resolve(fileDir, v as string)]),
      )
    : undefined;
  return {
    servers,
    ...(tls ? { tls } : {}),
    ...(file?.credentialsFile ? { credentialsFile: resolve(fileDir, file.credentialsFile) } : {}),
    ...(file?.nkeySeedFile ? { nkeySeedFile: resolve(fileDir, file.nkeySeedFile) } : {}),
  };
}

function dashboardSettings(
  section: z.output<typeof controlPlaneFileSchema>['dashboard'],
  env: ConfigSources['env'],
  fileDir: string,
): DashboardSettings | undefined {
  const listenEnv = env['SIGIL_LISTEN_DASHBOARD'];
  if (!section && !listenEnv) return undefined;
  return Object.freeze({
    listen: envOr(env, 'SIGIL_LISTEN_DASHBOARD', section?.listen ?? parseHostPort('127.0.0.1:7081'), (v) =>
      parseHostPort(v, 'SIGIL_LISTEN_DASHBOARD'),
    ),
    tls: section?.tls
      ? Object.freeze({ certFile: resolve(fileDir, section.tls.cert), keyFile: resolve(fileDir, section.tls.key) })
      : undefined,
    publicUrl: section?.publicUrl?.replace(/\/+$/, ''),
  });
}

function parseDefaultAction(value: string): 'deny' | 'allow' {
  if (value === 'deny' || value === 'allow') return value;
  throw new SigilError(
    ErrorCode.CONFIG_INVALID,
    `SIGIL_POLICY_DEFAULT_ACTION must be deny or allow, got ${JSON.stringify(value)}`,
  );
}

function parseBoolean(name: string): (value: string) => boolean {
  return (value) => {
    if (value === 'true' || value === 'false') return value === 'true';
    throw new SigilError(ErrorCode.CONFIG_INVALID, `${name} must be true or false, got ${JSON.stringify(value)}`);
  };
}

/** 60 per second and source on average: far above any rollout, far below a guessing flood (2,800/s seen). */
const DEFAULT_ATTEST_PER_SOURCE_LIMIT = 600;

function parseLimit(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      `SIGIL_ATTEST_PER_SOURCE_LIMIT must be a whole number of Attest calls per source and 10 s (0: unlimited), got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

function envOr<T>(env: ConfigSources['env'], name: string, fallback: T, parse: (v: string) => T): T {
  const value = env[name];
  return value === undefined || value === '' ? fallback : parse(value);
}

export function loadControlPlaneConfig(options: {
  configPath?: string | undefined;
  dataDir?: string | undefined;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}): ControlPlaneConfig {
  const cwd = options.cwd ?? process.cwd();
  let file: ConfigSources['file'];
  if (options.configPath !== undefined) {
    try {
      file = { path: options.configPath, text: readFileSync(resolve(cwd, options.configPath), 'utf8') };
    } catch (err) {
      throw new SigilError(
        ErrorCode.CONFIG_INVALID,
        `cannot read config file ${options.configPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        { cause: err },
      );
    }
  }
  return resolveControlPlaneConfig({
    ...(file ? { file } : {}),
    env: options.env ?? process.env,
    flags: { dataDir: options.dataDir },
    cwd,
  });
}

function x509popSettings(
  section: { caBundle: string; spiffeIdTemplate: string } | undefined,
  fileDir: string,
): ControlPlaneConfig['x509pop'] {
  if (!section) return undefined;
  checkX509PopTemplate(section.spiffeIdTemplate, 'attestation.x509pop.spiffeIdTemplate');
  return Object.freeze({
    caBundleFile: resolve(fileDir, section.caBundle),
    spiffeIdTemplate: section.spiffeIdTemplate,
  });
}
