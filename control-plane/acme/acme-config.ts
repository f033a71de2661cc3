import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { durationMs, findingsError, hostPortField, parseYaml, zodFindings } from '../../common/config-findings.ts';
import type { HostPort } from '../../common/address.ts';
import { KEY_TYPES, type KeyType } from '../../common/key-type.ts';

/**
 * Declared ACME accounts and certificates: the `acme:` section of cp.yaml and the `sigil acme apply -f` document
 * share these schemas. Secrets are never inline: the EAB HMAC key comes from a file.
 */

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const nameField = z.string().regex(NAME, 'use lowercase letters, digits and dashes (at most 63), e.g. www-example');
// A DNS name as ACME CAs take it: lowercase labels, an optional leading wildcard label.
const DNS_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const SIGNALS = ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGTERM', 'SIGINT'] as const;

const accountSchema = z.strictObject({
  name: nameField,
  directory: z.url({ protocol: /^https$/, error: 'must be an https:// ACME directory URL' }),
  contact: z.array(z.string().regex(/^mailto:\S+@\S+$/, 'use mailto:address')).default([]),
  termsOfServiceAgreed: z.boolean().default(false),
  keyType: z.enum(KEY_TYPES).default('ec-p256'),
  eab: z.strictObject({ keyId: z.string().min(1), hmacFile: z.string().min(1) }).optional(),
  /** PEM file of CA certificates to trust for the directory's HTTPS instead of the system roots. */
  caFile: z.string().min(1).optional(),
});

const challengeSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('http-01'), webroot: z.string().min(1).optional() }),
  z.strictObject({ type: z.literal('tls-alpn-01') }),
  z.strictObject({
    type: z.literal('dns-01'),
    hook: z.array(z.string().min(1)).min(1, 'name the hook command, e.g. [/usr/local/bin/dns-hook]'),
    propagation: durationMs.default(0),
    timeout: durationMs.default(60_000),
  }),
]);

const reloadSchema = z.union([
  z.strictObject({ command: z.array(z.string().min(1)).min(1), timeout: durationMs.default(60_000) }),
  z.strictObject({ signal: z.enum(SIGNALS), pidFile: z.string().min(1) }),
]);

const certificateSchema = z
  .strictObject({
    name: nameField,
    account: nameField,
    names: z
      .array(
        z
          .string()
          .transform((s) => s.toLowerCase())
          .pipe(z.string().regex(DNS_NAME, 'not a DNS name')),
      )
      .min(1, 'list at least one DNS name'),
    keyType: z.enum(KEY_TYPES).default('ec-p256'),
    profile: z.string().min(1).optional(),
    challenge: challengeSchema,
    install: z.strictObject({ dir: z.string().min(1) }),
    reload: reloadSchema.optional(),
  })
  .refine((c) => c.challenge.type === 'dns-01' || !c.names.some((n) => n.startsWith('*.')), {
    message: 'wildcard names can only be validated with dns-01',
    path: ['names'],
  });

export const acmeDeclarationsSchema = z.strictObject({
  accounts: z.array(accountSchema).default([]),
  certificates: z.array(certificateSchema).default([]),
});

/** The `acme:` section of cp.yaml. */
export const acmeSectionSchema = acmeDeclarationsSchema.extend({
  http01: z.strictObject({ listen: hostPortField }).optional(),
  tlsAlpn01: z.strictObject({ listen: hostPortField }).optional(),
  checkInterval: durationMs.default(3_600_000),
});

/** The `sigil acme apply -f` document. */
export const acmeDocumentSchema = acmeDeclarationsSchema.extend({
  apiVersion: z.literal('sigil.dev/v1'),
  kind: z.literal('AcmeCertificates'),
});

export type AcmeAccountSpec = Readonly<Omit<z.output<typeof accountSchema>, 'keyType'>> & { readonly keyType: KeyType };
export type AcmeCertificateSpec = Readonly<z.output<typeof certificateSchema>>;
export type ChallengeSpec = AcmeCertificateSpec['challenge'];
export type ReloadSpec = NonNullable<AcmeCertificateSpec['reload']>;

export interface AcmeDeclarations {
  readonly accounts: readonly AcmeAccountSpec[];
  readonly certificates: readonly AcmeCertificateSpec[];
}

export interface AcmeSettings extends AcmeDeclarations {
  readonly http01Listen: HostPort | undefined;
  readonly tlsAlpn01Listen: HostPort | undefined;
  readonly checkIntervalMs: number;
}

/** Makes every file path absolute against `baseDir` (the directory of the file that declared it). */
export function resolveDeclarationPaths<T extends AcmeDeclarations>(decl: T, baseDir: string): T {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  return {
    ...decl,
    accounts: decl.accounts.map((a) => ({
      ...a,
      ...(a.eab ? { eab: { ...a.eab, hmacFile: abs(a.eab.hmacFile) } } : {}),
      ...(a.caFile ? { caFile: abs(a.caFile) } : {}),
    })),
    certificates: decl.certificates.map((c) => ({
      ...c,
      install: { dir: abs(c.install.dir) },
      ...(c.challenge.type === 'http-01' && c.challenge.webroot
        ? { challenge: { ...c.challenge, webroot: abs(c.challenge.webroot) } }
        : {}),
      ...(c.reload && 'pidFile' in c.reload ? { reload: { ...c.reload, pidFile: abs(c.reload.pidFile) } } : {}),
    })),
  };
}

/**
 * Cross-entry rules zod cannot see: unique names, known accounts, one install directory per certificate. `base`
 * holds declarations from elsewhere (cp.yaml, when checking an applied document); paths name entries of `decl`.
 */
export function declarationFindings(
  decl: AcmeDeclarations,
  base: AcmeDeclarations = { accounts: [], certificates: [] },
): { path: string; message: string }[] {
  const findings: { path: string; message: string }[] = [];
  const unique = (
    items: readonly { name: string }[],
    taken: readonly { name: string }[],
    what: string,
    key: string,
  ) => {
    const names = new Set(taken.map((x) => x.name));
    items.forEach((item, i) => {
      if (names.has(item.name)) findings.push({ path: `${key}.${i}.name`, message: `duplicate ${what} ${item.name}` });
      names.add(item.name);
    });
    return names;
  };
  const accounts = unique(decl.accounts, base.accounts, 'account', 'accounts');
  unique(decl.certificates, base.certificates, 'certificate', 'certificates');
  const dirs = new Map<string, string>(base.certificates.map((c) => [c.install.dir, c.name]));
  decl.certificates.forEach((c, i) => {
    if (!accounts.has(c.account)) {
      findings.push({
        path: `certificates.${i}.account`,
        message: `unknown account ${c.account}: declare it under accounts`,
      });
    }
    const other = dirs.get(c.install.dir);
    if (other !== undefined) {
      findings.push({
        path: `certificates.${i}.install.dir`,
        message: `${c.install.dir} is already the install directory of ${other}`,
      });
    }
    dirs.set(c.install.dir, c.name);
  });
  return findings;
}

/** Parses and checks a `sigil acme apply` document; every finding at once, paths resolved against `baseDir`. */
export function parseAcmeDocument(
  text: string,
  source: string,
  baseDir: string,
  base?: AcmeDeclarations,
): AcmeDeclarations {
  const parsed = parseYaml(text, source);
  const result = acmeDocumentSchema.safeParse(parsed.value ?? {});
  if (!result.success) throw findingsError(source, zodFindings(result.error, parsed), 'ACME document');
  const decl = resolveDeclarationPaths(
    { accounts: result.data.accounts, certificates: result.data.certificates },
    baseDir,
  );
  const findings = declarationFindings(decl, base);
  if (findings.length > 0) {
    throw findingsError(
      source,
      findings.map((f) => ({ ...f, line: parsed.lineOf(f.path.split('.')) })),
      'ACME document',
    );
  }
  return decl;
}

/** The `acme:` section of cp.yaml as settings: paths absolute against the file's directory, cross-entry rules checked. */
export function acmeSettings(
  section: z.output<typeof acmeSectionSchema>,
  baseDir: string,
  source: string,
): AcmeSettings {
  const decl = resolveDeclarationPaths({ accounts: section.accounts, certificates: section.certificates }, baseDir);
  const findings = declarationFindings(decl);
  if (findings.length > 0) {
    throw findingsError(
      source,
      findings.map((f) => ({ path: `acme.${f.path}`, line: null, message: f.message })),
    );
  }
  return {
    ...decl,
    http01Listen: section.http01?.listen,
    tlsAlpn01Listen: section.tlsAlpn01?.listen,
    checkIntervalMs: section.checkInterval,
  };
}
