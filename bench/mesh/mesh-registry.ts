import { ErrorCode, SigilError } from '../../common/errors.ts';
import { goCachePath, goNoCachePath } from './go-path.ts';
import type { MeshPath } from './mesh-path.ts';
import { nginxNoReusePath, nginxReusePath } from './nginx-path.ts';
import { nodeTlsResumptionPath } from './node-path.ts';
import { sigilFullPath, sigilResumptionPath } from './sigil-path.ts';

/** Every path the mesh benchmark knows, in start order (the first Sigil pair lends its SVIDs to the others). */
export const MESH_PATHS: readonly MeshPath[] = [
  sigilResumptionPath,
  sigilFullPath,
  nodeTlsResumptionPath,
  goCachePath,
  goNoCachePath,
  nginxReusePath,
  nginxNoReusePath,
];

/** The reference of the ratios: the nginx pair with its default session reuse. */
export const MESH_BASELINE = 'nginx-session-reuse';

/** The paths named in a comma-separated list, in start order. Throws INVALID_ARGUMENT for an unknown one. */
export function selectMeshPaths(list: string): MeshPath[] {
  const names = list
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !MESH_PATHS.some((p) => p.name === n));
  if (unknown.length > 0 || names.length === 0)
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `unknown mesh path ${JSON.stringify(unknown.join(','))}: choose from ${MESH_PATHS.map((p) => p.name).join(', ')}`,
    );
  return MESH_PATHS.filter((p) => names.includes(p.name));
}
