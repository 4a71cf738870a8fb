// Bundles the built entry script (build/src/main.js and all it imports, protobufjs included) into
// build/src/bundle/: the script every Node process of the shim runs. Node's ES module loader
// resolves, reads and links each of ~100 modules one by one; one bundle, split at the entry's
// dynamic imports so `-v` does not parse the daemon's code, took a spare's boot to ready from 250
// to 210 ms of CPU on a 2-core machine (one unsplit file: 190, but 30 ms more for `-v`).
//
// The chunks sit at the same depth as every other directory of build/src/, so the paths our
// modules resolve from import.meta.url (the package root, the addon, bin/) stay right.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { build as esbuild } from 'esbuild';

/** Writes build/src/bundle/ from build/src/main.js under `root`. */
export async function bundle(root) {
  const outdir = join(root, 'build/src/bundle');
  rmSync(outdir, { recursive: true, force: true });
  await esbuild({
    entryPoints: [join(root, 'build/src/main.js')],
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // The addon is loaded at run time from the package (built here, or prebuilt).
    external: ['*.node'],
    // CommonJS dependencies (protobufjs, and its optional look-ups of `buffer` and `long`) call
    // require(); an ES module has none of its own.
    banner: {
      js: "import { createRequire as __tsshimRequire } from 'node:module';\nconst require = __tsshimRequire(import.meta.url);",
    },
    chunkNames: 'chunk-[hash]',
    // Whitespace only (names stay, for stack traces): protobufjs's generated code is a third
    // indentation. Importing the daemon's code took 57 ms of CPU instead of 62 and left 0.65 MiB
    // less anonymous memory in each process (medians of 25 alternating runs).
    minifyWhitespace: true,
    legalComments: 'none',
    logLevel: 'warning',
    // protobufjs looks its optional modules up through eval('require'), on purpose.
    logOverride: { 'direct-eval': 'silent' },
  });
}
