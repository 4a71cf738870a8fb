#!/usr/bin/env node
// Before `npm pack`: the native parts built here become the package's prebuilt ones for this
// platform, and bin/ gets launchers with no checkout path embedded.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const target = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
mkdirSync(target, { recursive: true });
for (const name of ['shim_native.node', 'tsshim-launcher']) {
  copyFileSync(join(root, 'native/build/Release', name), join(target, name));
}
execFileSync(process.execPath, [join(root, 'scripts/post-build.mjs'), '--portable'], {
  stdio: 'inherit',
});
