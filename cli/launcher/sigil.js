#!/usr/bin/env node
// @ts-check
// The `sigil` command (package.json "bin"; `npx sigil` from the project directory). It runs the compiled CLI in
// dist/ when that build matches the sources as they are now, and the TypeScript sources directly otherwise: a
// developer who edits a .ts file gets the new code (only slower to start) until `npm run build` refreshes dist/.
// Production images run dist/cli/sigil.js directly and do not need this file.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { staleReason } from './build-freshness.js';

// The project pins Node 26 (the `node` devDependency and .nvmrc); npx runs this file on that Node. Checked here,
// where the Node that will run Sigil is known, rather than by npm's `engines`, which npm compares with the Node npm
// itself runs on (and warns on every npx call when that is the machine's older one).
const REQUIRED_MAJOR = 26;
const major = Number(process.versions.node.split('.')[0]);
if (major < REQUIRED_MAJOR) {
  process.stderr.write(
    `sigil: needs Node.js ${REQUIRED_MAJOR} or later, this is ${process.version}; ` +
      'run it as `npx sigil` from the project directory (after `npm ci`), which uses the pinned Node\n',
  );
  process.exit(1);
}

const root = new URL('../../', import.meta.url);
const sourceEntry = new URL('cli/sigil.ts', root);
const buildEntry = new URL('dist/cli/sigil.js', root);
const useBuild =
  existsSync(buildEntry) && (!existsSync(sourceEntry) || !staleReason(fileURLToPath(new URL('dist', root))));
await import(useBuild ? buildEntry.href : sourceEntry.href);
