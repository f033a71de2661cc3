// Replaces a build's control-plane/admin.js (the Admin API client every admin command loads) with one file that
// holds it, the client, the wire types (proto/) and the packages they use (grpc-js, protobufjs). Loading grpc-js
// as 65 CommonJS files, each resolved through node_modules, was most of what `sigil certs list` spent before its
// first byte on the wire. Project modules outside proto/ stay separate files, imported from the bundle, so classes
// such as SigilError are the same ones the rest of the CLI checks against. Run by the build (build.ts) on its
// staging directory, in a process of its own because esbuild's plugins need its asynchronous API.
//
//   node cli/launcher/bundle-admin-client.ts BUILD_DIR
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

const ENTRY = join('control-plane', 'admin.js');
/** Project files the bundle takes in: the entry, the client and the generated wire types. */
const BUNDLED = [ENTRY, join('control-plane', 'api', 'admin-client.js'), `proto${sep}`];

export async function bundleAdminClient(buildDir: string): Promise<void> {
  const esbuild = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
  const entry = join(buildDir, ENTRY);
  await esbuild.build({
    entryPoints: [entry],
    outfile: entry,
    allowOverwrite: true,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node26',
    legalComments: 'none',
    // ASCII output: V8 then keeps the source as one byte per character (a single non-ASCII character in a
    // generated comment made it decode 1.8 MB into two bytes per character).
    charset: 'ascii',
    logLevel: 'silent',
    // grpc-js and protobufjs are CommonJS and require Node's modules: give the bundle a require of its own.
    banner: {
      js: "import { createRequire as sigilCreateRequire } from 'node:module';\nconst require = sigilCreateRequire(import.meta.url);",
    },
    plugins: [
      {
        name: 'project-modules-stay-separate',
        setup(build) {
          build.onResolve({ filter: /^\.\.?\// }, (args) => {
            const file = resolve(args.resolveDir, args.path);
            const inBuild = relative(buildDir, file);
            if (inBuild.startsWith('..') || isAbsolute(inBuild)) return undefined;
            if (BUNDLED.some((b) => inBuild === b || (b.endsWith(sep) && inBuild.startsWith(b)))) return undefined;
            // Imported from the bundle's place, whichever bundled file asked for it.
            const path = relative(dirname(entry), file).split(sep).join('/');
            return { path: path.startsWith('.') ? path : `./${path}`, external: true };
          });
        },
      },
    ],
  });
}

if (import.meta.main) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: node cli/launcher/bundle-admin-client.ts BUILD_DIR\n');
    process.exitCode = 2;
  } else {
    await bundleAdminClient(resolve(dir));
  }
}
