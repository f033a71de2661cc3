// @ts-check
// Whether a build (dist/) still matches the sources it was compiled from. `npm run build` records the modification
// time and size of every source it compiled in the build's build-info.json, taken before compiling; the `sigil` bin
// runs the build only while every one of them is unchanged. A developer who edits, adds (and imports), renames or
// deletes a source therefore never runs old code from a stale build. Plain JavaScript because it runs before any
// build exists, and it loads nothing but node:fs and node:path so that the check costs a few milliseconds.
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const BUILD_INFO_FILE = 'build-info.json';

/**
 * @typedef {[mtimeMs: number, size: number]} SourceStamp
 * @typedef {{ version: 1, sourceRoot: string, node: string, sources: Record<string, SourceStamp> }} BuildInfo
 *   sourceRoot: the repository the build came from, relative to the build directory (".." for dist/).
 *   sources: repository-relative path -> stamp, for every file whose content the build depends on.
 */

/**
 * The stamp of each file, or undefined for a file that does not exist.
 * @param {string} root
 * @param {readonly string[]} files repository-relative paths
 * @returns {Record<string, SourceStamp | undefined>}
 */
export function stampSources(root, files) {
  /** @type {Record<string, SourceStamp | undefined>} */
  const stamps = {};
  for (const file of files) {
    const stat = statSync(join(root, file), { throwIfNoEntry: false });
    stamps[file] = stat ? [stat.mtimeMs, stat.size] : undefined;
  }
  return stamps;
}

/**
 * @param {string} buildDir
 * @returns {BuildInfo | undefined} undefined when there is no readable build-info.json
 */
export function readBuildInfo(buildDir) {
  try {
    const info = JSON.parse(readFileSync(join(buildDir, BUILD_INFO_FILE), 'utf8'));
    return info?.version === 1 && typeof info.sourceRoot === 'string' && typeof info.sources === 'object'
      ? info
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why the build in `buildDir` does not match its sources, or undefined when it does (or when the sources are not
 * there at all, as in the Docker image, where the build is all there is).
 * @param {string} buildDir
 * @returns {string | undefined}
 */
export function staleReason(buildDir) {
  const info = readBuildInfo(buildDir);
  if (!info) return `no build in ${buildDir} (npm run build makes one)`;
  const root = resolve(buildDir, info.sourceRoot);
  const current = stampSources(root, Object.keys(info.sources));
  if (Object.values(current).every((stamp) => stamp === undefined)) return undefined;
  for (const [file, stamp] of Object.entries(info.sources)) {
    const now = current[file];
    if (!now) return `${file} was deleted since the build`;
    if (now[0] !== stamp[0] || now[1] !== stamp[1]) return `${file} changed since the build`;
  }
  return undefined;
}
