import type { CaPhase } from './ca-rotation-files.ts';
import { DAY_MS } from './templates.ts';

export interface RotationScheduleConfig {
  /** Off: the operator drives every step. */
  readonly auto: boolean;
  /** Least time between prepare and activate, so every sidecar has the new root (NATS or its gRPC refresh). */
  readonly propagationMs: number;
  /** The renewal window of the activation order; retire is tried once it (plus a grace) is over. */
  readonly activateWindowMs: number;
}

export interface RotationScheduleInput {
  readonly now: number;
  readonly phase: CaPhase;
  /** The intermediate in force. */
  readonly intermediate: { readonly notBefore: number; readonly notAfter: number };
  /** The root in force, to decide whether a new intermediate under it would live long enough. */
  readonly root: { readonly notAfter: number };
  /** Life a new intermediate would get (the configured intermediate TTL). */
  readonly intermediateTtlMs: number;
  readonly rootKeyOnline: boolean;
  readonly preparedAt?: number;
  readonly activatedAt?: number;
}

export type RotationStep =
  | { readonly step: 'none' }
  | { readonly step: 'prepare'; readonly at: number; readonly intermediateOnly: boolean }
  | { readonly step: 'activate'; readonly at: number }
  | { readonly step: 'retire'; readonly at: number }
  | { readonly step: 'blocked'; readonly at: number; readonly reason: string };

const RETIRE_GRACE_MS = 5 * 60_000;

/** When the intermediate in force should be replaced: half its life, or 30 days before expiry if that is earlier. */
export function prepareAt(intermediate: { notBefore: number; notAfter: number }): number {
  const life = intermediate.notAfter - intermediate.notBefore;
  return Math.min(intermediate.notBefore + life / 2, intermediate.notAfter - 30 * DAY_MS);
}

/** When the next one should sign: at 1/6 of the life left, or 7 days before expiry if that is earlier. */
export function activateAt(intermediate: { notBefore: number; notAfter: number }): number {
  const life = intermediate.notAfter - intermediate.notBefore;
  return Math.min(intermediate.notAfter - life / 6, intermediate.notAfter - 7 * DAY_MS);
}

/**
 * The next step of automatic CA rotation, as a pure function of `now` and the CA's state. `at` may be in the past:
 * the step is due. A new root is minted when the current root would cut a new intermediate's life short (less than
 * twice an intermediate's life left); otherwise only the intermediate rotates. With the root key offline every
 * prepare is the operator's (the schedule says 'blocked'): it would need the key, or have to hand a new one over.
 */
export function nextRotationStep(input: RotationScheduleInput, config: RotationScheduleConfig): RotationStep {
  if (!config.auto) return { step: 'none' };
  switch (input.phase) {
    case 'stable': {
      const at = prepareAt(input.intermediate);
      const intermediateOnly = input.root.notAfter - at >= 2 * input.intermediateTtlMs;
      // Offline root: an intermediate needs its key, and a new root's key must go offline too. Both are the operator's.
      if (!input.rootKeyOnline) {
        return {
          step: 'blocked',
          at,
          reason: intermediateOnly
            ? 'the intermediate is due for rotation but the root key is offline: run sigil ca rotate prepare --intermediate-only --root-key FILE'
            : 'the CA is due for rotation with a new root and the root key is kept offline: run sigil ca rotate prepare --root-key-out FILE',
        };
      }
      return { step: 'prepare', at, intermediateOnly };
    }
    case 'prepared':
      return {
        step: 'activate',
        at: Math.max(activateAt(input.intermediate), (input.preparedAt ?? input.now) + config.propagationMs),
      };
    case 'activated':
      return { step: 'retire', at: (input.activatedAt ?? input.now) + config.activateWindowMs + RETIRE_GRACE_MS };
  }
}
