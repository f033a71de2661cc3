import { ErrorCode, SigilError } from '../../common/errors.ts';
import { haproxyTarget, nginxTarget } from './baseline-targets.ts';
import { goProxyTarget } from './go-proxy-target.ts';
import { bareNodeTlsTarget, nodeTlsProxyTarget, sigilSidecarTarget, type HandshakeTarget } from './targets.ts';

/** Every server the comparison knows, in the order they are started (the sidecar first: it lends its SVID). */
export const COMPARISON_TARGETS: readonly HandshakeTarget[] = [
  sigilSidecarTarget,
  nodeTlsProxyTarget,
  bareNodeTlsTarget,
  goProxyTarget,
  nginxTarget,
  haproxyTarget,
];

/** The reference of the comparison's ratios: nginx with one worker. */
export const COMPARISON_BASELINE = 'nginx';

/** The targets named in a comma-separated list, in the comparison's order. Throws INVALID_ARGUMENT for an unknown one. */
export function selectTargets(list: string): HandshakeTarget[] {
  const names = list
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !COMPARISON_TARGETS.some((t) => t.name === n));
  if (unknown.length > 0 || names.length === 0) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `unknown target ${JSON.stringify(unknown.join(','))}: choose from ${COMPARISON_TARGETS.map((t) => t.name).join(', ')}`,
    );
  }
  return COMPARISON_TARGETS.filter((t) => names.includes(t.name));
}
