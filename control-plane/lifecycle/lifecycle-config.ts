import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { durationMs } from '../../common/config-findings.ts';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { DEFAULT_EXPIRY_POLICY, type ExpiryPolicy } from './expiry-rule.ts';

/** `alerts:` and `discovery:` of the control plane's file. Durations as `6h`; secrets only from files. */
export const alertsSectionSchema = z
  .strictObject({
    every: durationMs.default(300_000),
    daysBefore: z.array(z.number().int().positive()).min(1).default([30, 14, 7]),
    criticalWithinDays: z.number().int().nonnegative().default(7),
    webhooks: z
      .array(
        z.strictObject({
          url: z.string().regex(/^https?:\/\/\S+$/, 'must be an http:// or https:// URL'),
          secretFile: z.string().min(1),
          maxAttempts: z.number().int().min(1).max(20).default(8),
          initialBackoff: durationMs.default(1000),
          maxBackoff: durationMs.default(300_000),
        }),
      )
      .default([]),
  })
  .default({ every: 300_000, daysBefore: [30, 14, 7], criticalWithinDays: 7, webhooks: [] });

export const discoverySectionSchema = z
  .strictObject({
    targets: z.array(z.string().regex(/^\S+:\d{1,5}$/, 'must be HOST:PORT')).default([]),
    every: durationMs.default(21_600_000),
    timeout: durationMs.default(5000),
  })
  .default({ targets: [], every: 21_600_000, timeout: 5000 });

export interface AlertSettings {
  readonly everyMs: number;
  readonly policy: ExpiryPolicy;
  readonly webhooks: readonly {
    readonly url: string;
    readonly secret: string;
    readonly maxAttempts: number;
    readonly initialBackoffMs: number;
    readonly maxBackoffMs: number;
  }[];
}

export interface DiscoverySettings {
  readonly targets: readonly string[];
  readonly everyMs: number;
  readonly timeoutMs: number;
}

/** Reads each webhook secret once; a missing or empty file refuses the configuration, naming it. */
export function alertSettings(section: z.output<typeof alertsSectionSchema>, fileDir: string): AlertSettings {
  return Object.freeze({
    everyMs: section.every,
    policy: Object.freeze({
      ...DEFAULT_EXPIRY_POLICY,
      daysBefore: Object.freeze([...section.daysBefore]),
      criticalWithinDays: section.criticalWithinDays,
    }),
    webhooks: section.webhooks.map((w) => {
      const path = resolve(fileDir, w.secretFile);
      let secret: string;
      try {
        secret = readFileSync(path, 'utf8').split(/\r?\n/)[0] ?? '';
      } catch (err) {
        throw new SigilError(
          ErrorCode.CONFIG_INVALID,
          `alerts.webhooks: cannot read the secret file ${path} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
        );
      }
      if (secret === '')
        throw new SigilError(ErrorCode.CONFIG_INVALID, `alerts.webhooks: the secret file ${path} is empty`);
      return Object.freeze({
        url: w.url,
        secret,
        maxAttempts: w.maxAttempts,
        initialBackoffMs: w.initialBackoff,
        maxBackoffMs: w.maxBackoff,
      });
    }),
  });
}
