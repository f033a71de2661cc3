import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';

/**
 * The repository the CLI comes from, where the development tools (bench/) live: the directory above cli/ when the
 * CLI runs from its sources; when it runs from a build, the source root the build recorded in build-info.json
 * (cli/launcher/build.ts). A build without its repository (the Docker image) still answers, with a directory that has no
 * bench/ in it, and the command that needs one says so.
 */
export function repositoryRoot(): string {
  const above = fileURLToPath(new URL('..', import.meta.url));
  try {
    const info = JSON.parse(readFileSync(join(above, 'build-info.json'), 'utf8')) as { sourceRoot?: unknown };
    if (typeof info.sourceRoot === 'string') return resolve(above, info.sourceRoot);
  } catch {
    // no build-info.json: these are the sources
  }
  return above;
}
