import { ErrorCode, SigilError } from './errors.ts';
import { parseWorkloadId } from './spiffe-id.ts';

/** Who a rotation order is for: one workload, every workload under a path prefix, or every workload. */
export type RotationTarget =
  | { readonly kind: 'spiffe-id'; readonly spiffeId: string }
  | { readonly kind: 'prefix'; readonly prefix: string }
  | { readonly kind: 'all' };

export interface RotationTargetInput {
  readonly spiffeId?: string | undefined;
  readonly prefix?: string | undefined;
  readonly all?: boolean | undefined;
}

/**
 * Checks that exactly one target is named and that it lies in `trustDomain`. A prefix is a workload ID with or
 * without a trailing '/', and matches whole path segments: spiffe://td/ns/prod covers spiffe://td/ns/prod/sa/api but
 * not spiffe://td/ns/production. It is kept with its trailing '/'.
 */
export function parseRotationTarget(input: RotationTargetInput, trustDomain: string): RotationTarget {
  const named =
    [input.spiffeId, input.prefix].filter((v) => v !== undefined && v !== '').length + (input.all === true ? 1 : 0);
  if (named !== 1) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      'name exactly one rotation target: --spiffe-id ID, --prefix spiffe://<td>/path/ or --all',
    );
  }
  if (input.all === true) return { kind: 'all' };
  if (input.spiffeId !== undefined && input.spiffeId !== '')
    return { kind: 'spiffe-id', spiffeId: parseWorkloadId(input.spiffeId, trustDomain).uri };
  const prefix = input.prefix ?? '';
  const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return { kind: 'prefix', prefix: `${parseWorkloadId(base, trustDomain).uri}/` };
}

export function rotationTargetMatches(target: RotationTarget, spiffeId: string): boolean {
  switch (target.kind) {
    case 'all':
      return true;
    case 'spiffe-id':
      return spiffeId === target.spiffeId;
    case 'prefix':
      return spiffeId.startsWith(target.prefix) || spiffeId === target.prefix.slice(0, -1);
  }
}

export function describeRotationTarget(target: RotationTarget): string {
  switch (target.kind) {
    case 'all':
      return 'every workload';
    case 'spiffe-id':
      return target.spiffeId;
    case 'prefix':
      return `${target.prefix}**`;
  }
}

/** The (kind, value) pair the store and the wire carry. */
export function rotationTargetFields(target: RotationTarget): {
  readonly kind: RotationTarget['kind'];
  readonly value: string;
} {
  return {
    kind: target.kind,
    value: target.kind === 'spiffe-id' ? target.spiffeId : target.kind === 'prefix' ? target.prefix : '',
  };
}
