import type { sigil } from '../../proto/index.ts';
import type { SidecarReport } from '../fleet/sidecar-contacts.ts';

/** The report of a request, or undefined from a sidecar too old to send one. */
export function reportOf(msg: sigil.v1.ISidecarReport | null | undefined): SidecarReport | undefined {
  if (!msg) return undefined;
  return {
    instanceId: msg.instanceId ?? '',
    sidecarVersion: msg.sidecarVersion ?? '',
    ...(msg.hasVersions
      ? {
          versions: {
            bundleSequence: Number(msg.bundleSequence ?? 0),
            crlNumber: Number(msg.crlNumber ?? 0),
            policyVersion: Number(msg.policyVersion ?? 0),
          },
        }
      : {}),
  };
}
